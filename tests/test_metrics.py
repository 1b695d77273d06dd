import pytest
import torch

from cifarstudy import metrics


def test_agreement_of_a_model_with_itself_is_one():
    predictions = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    assert metrics.agreement(predictions, predictions) == 1.0


def test_agreement_of_two_known_label_vectors():
    a = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    b = torch.tensor([0, 1, 2, 0, 4, 0, 6, 0])  # differs at 3 of 8 places
    assert metrics.agreement(a, b) == pytest.approx(5 / 8)


def test_agreement_ignores_the_labels():
    a, b = torch.tensor([1, 1, 1]), torch.tensor([1, 1, 1])
    labels = torch.tensor([0, 0, 0])
    assert metrics.accuracy(a, labels) == 0.0
    assert metrics.agreement(a, b) == 1.0


def test_agreement_matrix_is_symmetric_with_known_entries():
    predictions = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 0], [1, 1, 0, 0]])
    expected = torch.tensor(
        [[1.0, 0.75, 0.25], [0.75, 1.0, 0.5], [0.25, 0.5, 1.0]], dtype=torch.float64
    )
    assert torch.equal(metrics.agreement_matrix(predictions), expected)


def test_accuracy_on_hand_made_predictions():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])
    predictions = torch.tensor([0, 1, 1, 1, 2, 0, 2, 1])
    assert metrics.accuracy(predictions, labels) == pytest.approx(5 / 8)


def test_per_class_accuracy_on_hand_made_predictions():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])
    predictions = torch.tensor([0, 1, 1, 1, 2, 0, 2, 1])
    per_class = metrics.per_class_accuracy(predictions, labels, n_classes=4)
    assert per_class[:3].tolist() == [0.5, 1.0, 0.5]
    assert torch.isnan(per_class[3])  # no image of class 3


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    labels = torch.tensor([0, 0, 1, 2])
    predictions = torch.tensor([0, 2, 1, 1])
    expected = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 1, 0]])
    assert torch.equal(metrics.confusion_matrix(predictions, labels, 3), expected)


def test_pair_outcomes_split_every_image_once():
    labels = torch.tensor([0, 1, 2, 3, 4])
    a = torch.tensor([0, 1, 2, 0, 1])  # right, right, right, wrong, wrong
    b = torch.tensor([0, 0, 2, 0, 2])  # right, wrong, right, wrong, wrong
    outcomes = metrics.pair_outcomes(a, b, labels)
    assert outcomes == {
        "both_correct": 0.4,
        "only_a_correct": 0.2,
        "only_b_correct": 0.0,
        "both_wrong_same": 0.2,
        "both_wrong_different": 0.2,
    }
    agree = outcomes["both_correct"] + outcomes["both_wrong_same"]
    assert agree == pytest.approx(metrics.agreement(a, b))
