"""DAN: deep adaptation networks on top of dan_ext (see README)."""
