"""The flags of ``dan classic`` and ``dan classic-ablate`` that set a classical method's parameters,
named after the estimators' own parameters (dan.classic: n_components, kernel, mu, reg, n_iter,
bandwidth, n_landmarks), the final classifier, and whether a run depends on its seed.

NOTE: ``--mu`` is what each estimator calls mu: the regulariser of TCA, JDA and TJM, but BDA's
balance factor (a number in [0, 1] or auto); BDA's regulariser is ``--reg``."""
from __future__ import annotations

from typing import Dict

from dan.classic.run import METHODS

FLAGS = {"n_components": "--n-components", "kernel": "--kernel", "mu": "--mu", "reg": "--reg",
         "n_iter": "--n-iter", "bandwidth": "--bandwidth", "n_landmarks": "--n-landmarks"}
# name -> (builder(seed), whether its fit depends on the seed)
CLASSIFIERS = {
    "1nn": (lambda seed: None, False),  # None: the estimators' and run_classic's 1-nearest neighbour
    "logreg": (lambda seed: _logreg(seed), False),  # lbfgs: deterministic
    "svm": (lambda seed: _svm(seed), True),  # liblinear's dual coordinate descent visits rows in random order
}
NORMALISATIONS = ("l2", "none")


def _logreg(seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))


def _svm(seed):
    from sklearn.svm import LinearSVC

    return LinearSVC(random_state=seed)


def parameters(method: str) -> Dict[str, object]:
    """METHOD's estimator parameters and their defaults ({} for "none")."""
    cls = METHODS[method]
    return {} if cls is None else cls().get_params()


def takers(param: str) -> list:
    return [m for m in METHODS if param in parameters(m)]


def check_method(method: str, flag: str = "--method") -> str:
    if method not in METHODS:
        raise ValueError(f"{flag} must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def check_classifier(name: str) -> str:
    if name not in CLASSIFIERS:
        raise ValueError(f"--classifier must be one of {', '.join(CLASSIFIERS)}, got {name!r}")
    return name


CONVERT = {"mu": lambda text: mu_value(text), "n_landmarks": lambda text: landmarks_value(text)}  # read as text


def given(args) -> Dict[str, object]:
    """The method flags the user gave (left out: the estimator's default applies)."""
    values = {p: getattr(args, p) for p in FLAGS if getattr(args, p, None) is not None}
    return {p: CONVERT[p](v) if p in CONVERT else v for p, v in values.items()}


def flag_value(values: Dict[str, object], param: str):
    """PARAM as its flag was given, for a run's record: None when left out, and "exact" for
    --n-landmarks exact (the estimator's None), which None alone would record as left out."""
    if param == "n_landmarks" and param in values and values[param] is None:
        return "exact"
    return values.get(param)


def refuse_unused(values: Dict[str, object], methods) -> None:
    """A one-line error for a flag that none of METHODS takes, or that the given --kernel does not use
    (it would silently do nothing)."""
    for param in values:
        if not any(param in parameters(m) for m in methods):
            users = takers(param)
            raise ValueError(f"{FLAGS[param]}: {', '.join(methods)} {'takes' if len(methods) == 1 else 'take'} no "
                             f"{param.replace('_', ' ')}; it is a setting of {', '.join(users)}")
    # a setting of the rbf kernel (or of a kernel matrix) under a --kernel without one; the methods that
    # take --bandwidth or --n-landmarks all take --kernel, so it is theirs whatever the methods
    kernel = values.get("kernel")
    if kernel in ("linear", "primal") and "bandwidth" in values:
        raise ValueError(f"--bandwidth: --kernel {kernel} has no bandwidth (only the rbf kernel has one)")
    if kernel == "primal" and "n_landmarks" in values:
        raise ValueError("--n-landmarks: --kernel primal works on the features themselves, with no kernel matrix "
                         "for landmarks to approximate")


def estimator_params(method: str, values: Dict[str, object], classifier: str, seed: int) -> tuple:
    """(keyword arguments for METHOD's estimator, their JSON-safe record): the given VALUES it takes,
    the seed as random_state and the classifier as the pseudo-labeller where it has them."""
    own = parameters(method)
    params = {p: v for p, v in values.items() if p in own}
    record = dict(params)
    if "random_state" in own:
        params["random_state"] = record["random_state"] = seed
    if "classifier" in own:
        built = CLASSIFIERS[classifier][0](seed)
        if built is not None:
            params["classifier"] = built
        record["classifier"] = classifier
    return params, record


def depends_on_seed(method: str, values: Dict[str, object], classifier: str, rows: int) -> bool:
    """Whether two seeds can give METHOD two results on ROWS fitted rows: Nystrom landmarks drawn
    (an rbf or linear kernel above EXACT_MAX_ROWS rows with n_landmarks auto, or fewer landmarks
    than rows), BDA's estimated mu (its A-distances split the rows at random), or a classifier
    whose fit draws. 1-NN and the closed forms (SA, CORAL, GFK) do not."""
    from dan.classic._kernels import EXACT_MAX_ROWS

    if CLASSIFIERS[classifier][1]:
        return True
    own = parameters(method)
    if method == "bda" and values.get("mu", own.get("mu")) == "auto":
        return True
    if "random_state" not in own or values.get("kernel", own.get("kernel")) == "primal":
        return False
    landmarks = values.get("n_landmarks", own.get("n_landmarks"))
    return (landmarks == "auto" and rows > EXACT_MAX_ROWS) or (isinstance(landmarks, int) and landmarks < rows)


def mu_value(text: str):
    """--mu: a number, or auto (BDA)."""
    return "auto" if text == "auto" else _number(text, "--mu", "a number, or auto (BDA's estimated balance)")


def landmarks_value(text: str):
    """--n-landmarks: a positive integer, auto, or exact (None: the exact n x n kernel)."""
    if text in ("auto", "exact"):
        return "auto" if text == "auto" else None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--n-landmarks must be a positive integer, auto or exact, got {text!r}") from None


def _number(text: str, flag: str, allowed: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{flag} must be {allowed}, got {text!r}") from None


def flag_error(err: ValueError, method: str) -> ValueError:
    """An estimator's 'param: ...' error with the param named as its flag."""
    text = str(err)
    for param, flag in FLAGS.items():
        if text.startswith(f"{param}:"):
            return ValueError(f"{flag} (for {method}):{text[len(param) + 1:]}")
    return err
