"""Fit the authenticity model, write its artefact: ``uv run python scripts/fit_authenticity.py ACCOUNTS.csv``.

Reproducible and pure Python: an L2-regularised logistic regression fitted by Newton's method (the
same file always gives the same artefact, byte for byte). Every account is observed at its row's
``updated`` time (else ``crawled_at``), never at today's date, with the same row mapping and the same
feature code the scorer runs (``followback.evaluate``, ``services.scorer.authenticity``). The classes
are weighted to balance in every fit, so a sample's class mix does not move the intercept.

Each fitted weight is held to its documented direction (``DIRECTION``: more posts or followers never
make an account look more fake; a missing bio never makes it look more genuine) or is zero. Without
this, correlated features trade signs (``followers`` came out positive beside the friends-per-follower
ratio), and a reason that says "many followers: towards bot" explains nothing.

Three features are not fitted jointly; their weights enter the fit as fixed offsets:

- ``new_account`` and ``default_image`` are priors set by hand (below): the labelled file holds no
  account younger than 30 days and almost no default images (19 of its 21 on genuine accounts), so
  fitting them would learn an accident of the sample.
- ``follow_back_begging`` takes its marginal evidence in the training data, the log likelihood ratio
  of its smoothed rates: ln(((bots begging + 1) / (bots + 2)) / ((humans begging + 1) / (humans + 2))).
  Fitted jointly it gets about 0.4, only because every begging fake of 2013 is also caught by its
  friends-per-follower ratio: the file cannot say what begging adds on its own (every figure is the
  same for any weight from 0.4 to 3), and the marginal estimate is what the signal is worth where it
  matters, on an otherwise human-looking profile.

Validation is across groups, not random folds: for each held-out seller of fake followers and each
human group, the model is fitted on the two other sellers and one human group and tested on the
held-out seller and the other human group (the 2013 sellers INT, FSF, TWT; the humans E13, TFP). The
spam threshold is the one of a coarse grid with the best mean MCC over these six splits.

Options: ``--out PATH`` (default: the shipped artefact), ``--l2 LAMBDA``, ``--check`` (fit and compare
with the artefact on disk instead of writing it; exits 1 when they differ).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from followback.evaluate import Confusion, EvaluationError, LabelledAccount, read_accounts
from services.scorer.authenticity import FEATURE_NAMES, MODEL_PATH, Model, feature_inputs

VERSION = "authenticity-v1"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # the grid the spam threshold is chosen from
L2 = 4.0  # per fit, on the sum of the (class-balanced) log-losses; the intercept is not penalised
# Fixed priors (log-odds), see the module docstring: roughly the weight of the fitted "no bio".
PRIORS = {"default_image": 1.0, "new_account": 1.0}
MARGINAL = ("follow_back_begging",)  # weight: the smoothed log likelihood ratio in the training data
FITTED = tuple(f for f in FEATURE_NAMES if f not in PRIORS and f not in MARGINAL)
CONTINUOUS = ("followers", "posts", "friends_per_follower")  # reference: the human median
# The direction each fitted feature may push: +1 towards bot, -1 towards genuine (or not at all).
DIRECTION = {f: -1 if f in ("followers", "posts") else 1 for f in FITTED}
SELLERS = ("INT", "FSF", "TWT")
HUMANS = ("E13", "TFP")
DIGITS = 4  # decimals kept in the artefact; the figures are computed with the rounded model


@dataclass(frozen=True)
class Sample:
    x: dict[str, float]
    is_bot: bool
    group: str


def samples(accounts: Sequence[LabelledAccount]) -> list[Sample]:
    return [
        Sample(feature_inputs(a.event.follower, a.event.occurred_at), a.is_bot, a.group) for a in accounts
    ]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Solve a x = b by Gaussian elimination with partial pivoting (a is small and well posed)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            factor = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= factor * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def fixed_weights(data: Sequence[Sample]) -> dict[str, float]:
    """The weights not fitted jointly: the hand-set priors and the marginal log likelihood ratios."""
    bots = [s for s in data if s.is_bot]
    humans = [s for s in data if not s.is_bot]
    marginal = {
        f: math.log(
            (sum(s.x[f] for s in bots) + 1)
            / (len(bots) + 2)
            / ((sum(s.x[f] for s in humans) + 1) / (len(humans) + 2))
        )
        for f in MARGINAL
    }
    return {**PRIORS, **marginal}


def _newton(
    data: Sequence[Sample], l2: float, features: Sequence[str], fixed: dict[str, float]
) -> tuple[list[float], list[float]]:
    """Intercept and weights minimising the class-balanced log-loss plus l2/2 * |w|^2, and the
    gradient of the log-loss with respect to every feature of ``FEATURE_NAMES`` at that optimum."""
    bots = sum(1 for s in data if s.is_bot)
    humans = len(data) - bots
    if not bots or not humans:
        raise ValueError("a fit needs both bots and humans")
    # Each class weighs half of the sample, whatever its count.
    balance = {True: len(data) / (2 * bots), False: len(data) / (2 * humans)}
    rows = [[1.0, *(s.x[f] for f in features)] for s in data]
    offsets = [sum(w * s.x[f] for f, w in fixed.items()) for s in data]
    ys = [1.0 if s.is_bot else 0.0 for s in data]
    ws = [balance[s.is_bot] for s in data]
    k = len(features) + 1
    beta = [0.0] * k
    for _ in range(100):
        grad = [l2 * beta[j] if j else 0.0 for j in range(k)]
        hess = [[(l2 if i == j and i else 0.0) for j in range(k)] for i in range(k)]
        for row, off, y, w in zip(rows, offsets, ys, ws, strict=True):
            p = _sigmoid(off + sum(b * v for b, v in zip(beta, row, strict=True)))
            r, curvature = w * (p - y), w * p * (1 - p)
            for i in range(k):
                grad[i] += r * row[i]
                si = curvature * row[i]
                hess_i = hess[i]
                for j in range(i + 1):
                    hess_i[j] += si * row[j]
        for i in range(k):
            for j in range(i + 1, k):
                hess[i][j] = hess[j][i]
        step = _solve(hess, grad)
        beta = [b - d for b, d in zip(beta, step, strict=True)]
        if max(abs(d) for d in step) < 1e-12:
            break
    everything = [0.0] * len(FEATURE_NAMES)
    for sample, off, y, w in zip(data, offsets, ys, ws, strict=True):
        z = off + beta[0] + sum(b * sample.x[f] for b, f in zip(beta[1:], features, strict=True))
        r = w * (_sigmoid(z) - y)
        for n, f in enumerate(FEATURE_NAMES):
            everything[n] += r * sample.x[f]
    return beta, everything


def fit(
    data: Sequence[Sample], l2: float = L2, fixed: dict[str, float] | None = None
) -> tuple[float, dict[str, float]]:
    """The sign-constrained fit: every weight points the way ``DIRECTION`` says, or is zero.

    An active set: fit the free features by Newton's method; while a weight has the wrong sign, fix
    the worst one at zero and refit; then free again the fixed feature whose gradient shows the loss
    would fall by moving it the allowed way (none: done). Deterministic, a few fits at most.
    """
    fixed = fixed_weights(data) if fixed is None else fixed
    free = list(FITTED)
    for _ in range(4 * len(FITTED)):
        beta, gradient = _newton(data, l2, free, fixed)
        weights = dict(zip(free, beta[1:], strict=True))
        wrong = [f for f in free if weights[f] * DIRECTION[f] < 0]
        if wrong:
            free.remove(max(wrong, key=lambda f: (abs(weights[f]), f)))
            continue
        slope = dict(zip(FEATURE_NAMES, gradient, strict=True))
        better = [f for f in FITTED if f not in free and slope[f] * DIRECTION[f] < -1e-9]
        if not better:
            return beta[0], {f: weights.get(f, 0.0) for f in FITTED}
        free = [f for f in FITTED if f in free or f == min(better, key=lambda f: slope[f] * DIRECTION[f])]
    raise RuntimeError("the sign-constrained fit did not settle")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def build_model(data: Sequence[Sample], l2: float = L2) -> Model:
    """The full model, rounded as it is stored: fitted weights, fixed priors, the genuine reference."""
    fixed = {f: round(w, DIGITS) for f, w in fixed_weights(data).items()}
    intercept, fitted = fit(data, l2, fixed)
    weights = {f: round(fitted[f], DIGITS) if f in fitted else fixed[f] for f in FEATURE_NAMES}
    humans = [s for s in data if not s.is_bot]
    reference = {f: round(_median([s.x[f] for s in humans]), DIGITS) if f in CONTINUOUS else 0.0
                 for f in FEATURE_NAMES}  # fmt: skip
    return Model(
        version=VERSION,
        features=FEATURE_NAMES,
        weights=weights,
        intercept=round(intercept, DIGITS),
        reference=reference,
        threshold=0.5,  # the even bet on balanced classes; artefact() sets the chosen one
        provenance={},
    )


def predict(model: Model, sample: Sample) -> float:
    z = model.intercept + sum(model.weights[f] * sample.x[f] for f in model.features)
    return _sigmoid(z)


def confusion(model: Model, data: Sequence[Sample]) -> Confusion:
    return Confusion.of((s.is_bot, predict(model, s) >= model.threshold) for s in data)


@dataclass(frozen=True)
class Split:
    train: str
    test: str
    model: Model
    data: list[Sample]  # the test accounts


def cross_group_splits(data: Sequence[Sample], l2: float = L2) -> list[Split]:
    """Fit on two sellers and one human group; test on the third seller and the other humans."""
    splits = []
    for held_seller in SELLERS:
        for train_humans in HUMANS:
            test_humans = next(h for h in HUMANS if h != train_humans)
            train_groups = {*(s for s in SELLERS if s != held_seller), train_humans}
            test_groups = {held_seller, test_humans}
            train = [s for s in data if s.group in train_groups]
            test = [s for s in data if s.group in test_groups]
            splits.append(
                Split(
                    "+".join(sorted(train_groups)),
                    "+".join(sorted(test_groups)),
                    build_model(train, l2),
                    test,
                )
            )
    return splits


def _mean_mcc(splits: Sequence[Split], threshold: float) -> float:
    return sum(confusion(replace(s.model, threshold=threshold), s.data).mcc for s in splits) / len(splits)


def choose_threshold(splits: Sequence[Split]) -> tuple[float, dict[str, float]]:
    """The threshold of the grid with the best mean cross-group MCC (ties: the one nearest 0.5).

    Every fit balances the classes, so 0.5 would be the even bet on a balanced sample; the held-out
    groups tell how sure the model must be before it calls a new population's accounts fakes.
    """
    sweep = {t: _mean_mcc(splits, t) for t in THRESHOLDS}
    best = max(THRESHOLDS, key=lambda t: (round(sweep[t], 4), -abs(t - 0.5)))
    return best, {f"{t:g}": round(m, 4) for t, m in sweep.items()}


def artefact(data: Sequence[Sample], source: Path, l2: float) -> tuple[Model, dict[str, Any]]:
    """The model fitted on every account, with the cross-group threshold and figures."""
    splits = cross_group_splits(data, l2)
    threshold, sweep = choose_threshold(splits)
    model = replace(build_model(data, l2), threshold=threshold)
    figures = [
        {
            "train": s.train,
            "test": s.test,
            **confusion(replace(s.model, threshold=threshold), s.data).figures(),
        }
        for s in splits
    ]
    mean = {m: round(sum(float(f[m]) for f in figures) / len(figures), 4)
            for m in ("accuracy", "precision", "recall", "f1", "mcc")}  # fmt: skip
    groups: dict[str, int] = {}
    for s in data:
        groups[s.group] = groups.get(s.group, 0) + 1
    document = {
        "version": model.version,
        "kind": "logistic regression: p(bot) = 1 / (1 + exp(-(intercept + sum(weights[f] * x[f]))))",
        "features": list(model.features),
        "feature_definitions": {f: d for f, d in _definitions().items() if f in model.features},
        "weights": model.weights,
        "intercept": model.intercept,
        "reference": model.reference,
        "threshold": model.threshold,
        "training": {
            "script": "scripts/fit_authenticity.py",
            "data": source.name,
            "data_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "rows": dict(sorted(groups.items())),
            "observation_time": "each row's updated column (else crawled_at)",
            "method": "Newton's method on the class-balanced log-loss with L2 on the weights (not the "
            "intercept); each weight held to its documented sign (active set)",
            "directions": {f: "towards bot" if d > 0 else "towards genuine" for f, d in DIRECTION.items()},
            "l2": l2,
            "fitted": list(FITTED),
            "fixed_priors": PRIORS,
            "marginal_log_likelihood_ratio": list(MARGINAL),
            "reference": "medians of the training humans for the counts; 'absent' for yes/no features",
            "threshold": "best mean cross-group MCC on the grid (ties: nearest 0.5)",
            "excluded": "lang, time_zone, utc_offset, profile colours and image URLs, default_profile, "
            "location and bio language: they reveal the collection, not authenticity",
        },
        "figures": {
            "full_file_in_sample": confusion(model, data).figures(),
            "cross_group": figures,
            "cross_group_mean": mean,
            "cross_group_mean_mcc_by_threshold": sweep,
        },
    }
    return model, document


def _definitions() -> dict[str, str]:
    from services.scorer.authenticity import FEATURES

    return {f.name: f.detail for f in FEATURES}


def _print_table(title: str, rows: Sequence[dict[str, Any]]) -> None:
    print(title)
    print(f"  {'train':<16} {'test':<10} {'acc':>6} {'prec':>6} {'rec':>6} {'f1':>6} {'mcc':>6}  tp/fp/tn/fn")
    for r in rows:
        print(
            f"  {r.get('train', ''):<16} {r.get('test', ''):<10} {r['accuracy']:>6.3f} {r['precision']:>6.3f}"
            f" {r['recall']:>6.3f} {r['f1']:>6.3f} {r['mcc']:>6.3f}  {r['tp']}/{r['fp']}/{r['tn']}/{r['fn']}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("accounts", type=Path, help="labelled accounts CSV (user-object columns, label)")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--l2", type=float, default=L2)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing")
    args = parser.parse_args(argv)
    try:
        data = samples(read_accounts(args.accounts))
    except EvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    unknown = sorted({s.group for s in data} - {*SELLERS, *HUMANS})
    if unknown:
        print(f"error: unknown dataset group(s) {unknown}; expected {SELLERS + HUMANS}", file=sys.stderr)
        return 1
    model, document = artefact(data, args.accounts, args.l2)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    print(f"{VERSION}: intercept {model.intercept:+.4f}, threshold {model.threshold}")
    for f in model.features:
        kind = "prior" if f in PRIORS else "marginal" if f in MARGINAL else "fitted"
        print(f"  {f:<22} {model.weights[f]:+8.4f}  ({kind}; reference {model.reference[f]:g})")
    full = document["figures"]["full_file_in_sample"]
    _print_table("full file (in sample):", [full])
    _print_table("cross-group (out of sample):", document["figures"]["cross_group"])
    _print_table(
        "cross-group mean:",
        [document["figures"]["cross_group_mean"] | {"tp": "", "fp": "", "tn": "", "fn": ""}],
    )
    sweep = document["figures"]["cross_group_mean_mcc_by_threshold"]
    print("cross-group mean MCC by threshold: " + ", ".join(f"{t}: {m:.3f}" for t, m in sweep.items()))
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print("artefact up to date" if same else f"artefact differs from {args.out}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
