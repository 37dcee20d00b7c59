"""atomic.py, the one home of temporary files: a symlink planted at a temporary file's name is not
followed, stale temporaries are removed by exact name only, and a pid that cannot exist does not
crash the cleanup."""
import os

from dan.runs.atomic import atomic_write_text, other_process_running, remove_stale_temporaries, temporary_name


def test_a_symlink_planted_at_the_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = tmp_path / "result.json"
    temporary_name(path).symlink_to(victim)  # the name this process will write next
    atomic_write_text(path, '{"ok": true}')
    assert victim.read_text() == "precious"
    assert path.read_text() == '{"ok": true}' and not path.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json", "victim.txt"]


def test_stale_temporaries_by_exact_name_only(tmp_path):
    dead = 2 ** 22 + 12345  # above pid_max's default: no process has it
    ours = [tmp_path / f"log.json.tmp{dead}", tmp_path / f"log.json.tmp{os.getpid()}"]
    others = [tmp_path / "log.json.tmp1", tmp_path / f"log.json.tmp{dead}.bak", tmp_path / f"x.log.json.tmp{dead}",
              tmp_path / f"log.csv.tmp{dead}", tmp_path / f"log.json.tmp{10 ** 30}"]
    for p in ours + others:
        p.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path, ["log.json"])) == sorted(ours)
    assert all(p.exists() for p in others)


def test_pid_checks():
    assert not other_process_running(os.getpid())  # our own pid: a leftover of a reused pid
    assert other_process_running(1)
    assert other_process_running(10 ** 30)  # no such pid can exist: left alone, no OverflowError
