"""N-gram language model: normalization, a hand-computed Kneser-Ney case, persistence, edge cases."""

import math

import numpy as np
import pytest

from musicvae.evaluation.ngram import NGramLM, symbols

A, B, C = 3, 5, 7  # token values of the hand-computed corpus


@pytest.fixture
def small_corpus():
    rng = np.random.default_rng(0)
    motifs = [rng.integers(0, 8, 6) for _ in range(4)]
    seqs = [np.concatenate([motifs[i % 4], motifs[(i * 3) % 4], rng.integers(0, 8, i % 5)]) for i in range(60)]
    return seqs


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_probabilities_sum_to_one(small_corpus, order):
    lm = NGramLM.fit(small_corpus, order=order)
    unseen_token = 1000  # stands for <unk>: every never-seen token shares its probability
    contexts = [
        [],  # sentence start
        list(small_corpus[0][:5]),  # seen context
        list(small_corpus[7]),  # a whole training sentence
        [1000, 2000, 3000, 4000],  # unseen context (unknown tokens)
        [7, 7, 7, 7, 7, 7, 7, 0],  # most likely unseen at the top orders
    ]
    for ctx in contexts:
        total = sum(lm.prob(ctx, int(t)) for t in lm.vocab) + lm.prob(ctx, None) + lm.prob(ctx, unseen_token)
        assert total == pytest.approx(1.0, abs=1e-12), (order, ctx)


def test_logprob_is_the_sum_of_conditionals(small_corpus):
    lm = NGramLM.fit(small_corpus, order=3)
    seq = np.array([1, 2, 1000, 4, 4])
    expected = sum(math.log(lm.prob(seq[:i], int(seq[i]))) for i in range(len(seq))) + math.log(lm.prob(seq, None))
    assert lm.logprob(seq) == pytest.approx(expected, rel=1e-12)
    assert lm.cost(seq) == pytest.approx(-expected / 6, rel=1e-12)


def test_training_sequence_cheaper_than_random(small_corpus):
    lm = NGramLM.fit(small_corpus, order=5)
    rng = np.random.default_rng(1)
    for seq in small_corpus[:10]:
        assert lm.cost(seq) < lm.cost(rng.integers(0, 8, len(seq)))


def test_hand_computed_bigram():
    # corpus: "a b" x3, "a c" x2, "b" x1 (order 2; <s> and </s> added)
    lm = NGramLM.fit([np.array([A, B])] * 3 + [np.array([A, C])] * 2 + [np.array([B])], order=2)
    # bigram raw counts: (<s>,a)=5 (a,b)=3 (b,</s>)=4 (a,c)=2 (c,</s>)=2 (<s>,b)=1
    #   n1=1 n2=2 n3=1 n4=1 -> Y = 1/(1+2*2) = 0.2
    #   D1 = 1 - 2*0.2*2/1 = 0.2, D2 = 2 - 3*0.2*1/2 = 1.7, D3+ = 3 - 4*0.2*1/1 = 2.2
    np.testing.assert_allclose(lm.discount_values[1], [0, 0.2, 1.7, 2.2])
    # unigram continuation counts (distinct left neighbours): a:{<s>}=1 b:{a,<s>}=2 c:{a}=1 </s>:{b,c}=2
    #   n3 = 0 -> KenLM's fallback discounts D1=0.5 D2=1 D3+=1.5
    np.testing.assert_allclose(lm.discount_values[0], [0, 0.5, 1.0, 1.5])
    #   total 6; gamma = (0.5*2 + 1*2)/6 = 0.5; uniform over {a,b,c,</s>,<unk>} = 1/5
    #   p1(b) = (2-1)/6 + 0.5/5 = 1/6 + 0.1 = 4/15
    # P(b | a): context a has (a,b)=3, (a,c)=2, total 5; gamma(a) = (D3+ + D2)/5 = (2.2+1.7)/5 = 0.78
    #   P(b|a) = (3 - 2.2)/5 + 0.78 * 4/15 = 0.16 + 0.208 = 0.368
    assert lm.prob([A], B) == pytest.approx(0.368, rel=1e-12)
    # P(a | <s>): (<s>,a)=5, (<s>,b)=1, total 6; gamma = (2.2+0.2)/6 = 0.4; p1(a) = 0.5/6 + 0.1 = 11/60
    #   = (5-2.2)/6 + 0.4*11/60 = 0.54;  P(</s> | b) = (4-2.2)/4 + (2.2/4) * p1(</s>)=4/15 -> 0.45 + 0.55*4/15
    assert lm.prob([], A) == pytest.approx(0.54, rel=1e-12)
    assert lm.logprob(np.array([A, B])) == pytest.approx(math.log(0.54 * 0.368 * (0.45 + 0.55 * 4 / 15)), rel=1e-12)
    # empty sequence: only </s> is predicted; P(</s> | <s>) = 0 + 0.4 * 4/15
    assert lm.cost(np.array([], np.int64)) == pytest.approx(-math.log(0.4 * 4 / 15), rel=1e-12)


def test_unseen_token_has_finite_cost(small_corpus):
    lm = NGramLM.fit(small_corpus, order=5)
    seq = np.array([1, 2, 999, 3, -4])
    cost = lm.cost(seq)
    assert np.isfinite(cost) and cost > lm.cost(small_corpus[0][: len(seq)])
    assert 0 < lm.prob([1, 2], 999) < 1


def test_save_load_round_trip(small_corpus, tmp_path):
    lm = NGramLM.fit(small_corpus, order=4)
    path = tmp_path / "lm.npz"
    lm.save(path)
    back = NGramLM.load(path)
    assert back.order == 4 and back.discounts == "modified"
    probe = small_corpus[:5] + [np.array([9, 9, 1]), np.array([], np.int64)]
    np.testing.assert_array_equal(back.costs(probe), lm.costs(probe))
    assert back.perplexity(probe) == lm.perplexity(probe)


def test_costs_accepts_batched_arrays(small_corpus):
    lm = NGramLM.fit(small_corpus, order=3)
    batch = np.stack([s[:8] for s in small_corpus[:6]])  # (6, 8)
    expected = [lm.cost(s) for s in batch]
    np.testing.assert_allclose(lm.costs(batch), expected, rtol=1e-12)
    np.testing.assert_allclose(lm.costs(batch[:, :, None]), expected, rtol=1e-12)  # (N, T, 1)


def test_symbols_mixed_radix():
    grid = np.array([[0, 0], [1, 2], [129, 511], [3, 0]])
    np.testing.assert_array_equal(symbols(grid, [130, 512]), [0, 1 * 512 + 2, 129 * 512 + 511, 3 * 512])
    assert symbols(grid, [130, 512]).dtype == np.int64
    np.testing.assert_array_equal(symbols(np.array([4, 5, 6])), [4, 5, 6])
    np.testing.assert_array_equal(symbols(np.array([[4], [5]]), [130]), [4, 5])
    np.testing.assert_array_equal(symbols(grid[None], [130, 512]), symbols(grid, [130, 512])[None])
    with pytest.raises(ValueError, match="outside"):
        symbols(grid, [130, 100])
    with pytest.raises(ValueError, match="one vocabulary size per stream"):
        symbols(grid)


def test_edge_cases():
    with pytest.raises(ValueError, match="no sequences"):
        NGramLM.fit([])
    for order in (0, -1):
        with pytest.raises(ValueError, match="order"):
            NGramLM(order=order)
    with pytest.raises(ValueError, match="order"):
        NGramLM.fit([np.array([1, 2])], order=0)
    with pytest.raises(ValueError, match="discounts"):
        NGramLM(discounts="witten-bell")
    with pytest.raises(ValueError, match="symbols"):
        NGramLM.fit([np.zeros((4, 2), np.int64)])
    with pytest.raises(RuntimeError, match="not trained"):
        NGramLM().cost(np.array([1]))
    lm = NGramLM.fit([np.array([1, 2, 3])] * 4, order=3)
    empty = lm.cost(np.array([], np.int64))
    assert empty == pytest.approx(-math.log(lm.prob([], None)))
    assert lm.costs([]).shape == (0,)
