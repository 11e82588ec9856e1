"""Train the learned relevance scores (learned.py) on the tuning part of labelled items.

For each topic with enough labelled examples in the tuning part, a logistic regression
(scikit-learn, L2, balanced classes) is fitted over learned.features of every tuning case.
Its threshold is chosen on out-of-fold scores (5-fold cross-validation over the tuning part,
so the threshold is not chosen on scores of cases the model was fitted on): the one that
gives the best F1 of "rules, or learned score ≥ threshold in this war's context and not vetoed
by the topic's `not` terms" while that
precision stays ≥ MIN_PRECISION. A topic the learned score does not improve on the tuning
part gets no weights and works on its rules alone. The check part is never read here.

scikit-learn is imported only inside :func:`train` (``pip install 'parley[train]'``); scoring
needs none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parley.flows.topics.evaluate import TUNE, Case
from parley.flows.topics.learned import LearnedScorer, TopicWeights, feature_set
from parley.flows.topics.relevance import RelevanceMatcher

MIN_POSITIVES = 8  # tuning examples a topic needs before a score is learned for it
MIN_PRECISION = 0.90
FOLDS = 5
C = 4.0  # inverse regularisation strength
MIN_WEIGHT = 0.02  # smaller weights are dropped from the file: they never decide
THRESHOLDS = [round(0.05 * step, 2) for step in range(4, 20)]  # 0.20 … 0.95


class TrainError(RuntimeError):
    """Training cannot run (scikit-learn missing, no labelled cases)."""


@dataclass(frozen=True)
class TopicReport:
    """What training found for one topic on the tuning part (out-of-fold)."""

    key: str
    positives: int
    rules_f1: float
    learned_f1: float | None  # rules or learned score, at the chosen threshold
    threshold: float | None  # None: no weights kept for this topic
    features: int = 0


def train(
    cases: Sequence[Case], rules: RelevanceMatcher, trained_on: str = ""
) -> tuple[LearnedScorer, list[TopicReport]]:
    """Fit the topics of ``rules`` on the tuning cases; ``rules`` must have no scorer."""
    try:
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.preprocessing import normalize
    except ImportError as exc:  # pragma: no cover - the dev and train extras carry it
        raise TrainError("training needs scikit-learn: pip install 'parley[train]'") from exc
    tuning = [case for case in cases if case.part == TUNE]
    if not tuning:
        raise TrainError("no labelled cases in the tuning part")
    rows = [dict.fromkeys(feature_set(c.title, c.summary), 1.0) for c in tuning]
    vectorizer = DictVectorizer()
    matrix = normalize(vectorizer.fit_transform(rows))
    names = vectorizer.get_feature_names_out()
    rule_hits = [{m.topic_key for m in rules.match(c.title, c.summary)} for c in tuning]
    in_context = [rules.in_context(c.title, c.summary) for c in tuning]
    vetoed = [rules.vetoed(c.title, c.summary) for c in tuning]
    weights: list[TopicWeights] = []
    reports: list[TopicReport] = []
    for topic in rules.topics:
        labels = [topic.key in case.topics for case in tuning]
        counted = [topic.key not in case.unsure for case in tuning]
        ruled = [topic.key in hits for hits in rule_hits]
        open_to = [ctx and topic.key not in v for ctx, v in zip(in_context, vetoed, strict=True)]
        positives = sum(labels)
        rules_f1 = _f1(ruled, labels, counted)
        if positives < MIN_POSITIVES or positives > len(labels) - FOLDS:
            reports.append(TopicReport(topic.key, positives, rules_f1, None, None))
            continue
        model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000)
        folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=0)
        oof = cross_val_predict(model, matrix, labels, cv=folds, method="predict_proba")[:, 1]
        best: tuple[float, float] | None = None
        for threshold in THRESHOLDS:
            predicted = [
                r or (ok and score >= threshold)
                for r, ok, score in zip(ruled, open_to, oof, strict=True)
            ]
            if _precision(predicted, labels, counted) < MIN_PRECISION:
                continue
            f1 = _f1(predicted, labels, counted)
            if f1 > rules_f1 + 1e-9 and (best is None or f1 > best[0]):
                best = (f1, threshold)
        if best is None:
            reports.append(TopicReport(topic.key, positives, rules_f1, None, None))
            continue
        model.fit(matrix, labels)
        kept = {
            str(names[index]): round(float(weight), 4)
            for index, weight in enumerate(model.coef_[0])
            if abs(weight) >= MIN_WEIGHT
        }
        bias = round(float(model.intercept_[0]), 4)
        weights.append(TopicWeights(topic.key, bias, best[1], kept))
        reports.append(TopicReport(topic.key, positives, rules_f1, best[0], best[1], len(kept)))
    return LearnedScorer(weights, trained_on), reports


def _counts(predicted: list[bool], labels: list[bool], counted: list[bool]) -> tuple[int, ...]:
    tp = fp = fn = 0
    for p, label, use in zip(predicted, labels, counted, strict=True):
        if not use:
            continue
        tp += p and label
        fp += p and not label
        fn += label and not p
    return tp, fp, fn


def _precision(predicted: list[bool], labels: list[bool], counted: list[bool]) -> float:
    tp, fp, _ = _counts(predicted, labels, counted)
    return tp / (tp + fp) if tp + fp else 1.0


def _f1(predicted: list[bool], labels: list[bool], counted: list[bool]) -> float:
    tp, fp, fn = _counts(predicted, labels, counted)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
