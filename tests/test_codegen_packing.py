import numpy as np
import pytest

from bs4nn.codegen.packing import pack_signs, packed_words, row_words, unpack_signs


@pytest.mark.parametrize("n_out,n_in", [(1, 1), (3, 5), (7, 13), (10, 600), (600, 784), (33, 31)])
def test_pack_unpack_round_trip_odd_sizes(n_out, n_in):
    rng = np.random.default_rng(n_out * 1000 + n_in)
    signs = np.where(rng.random((n_out, n_in)) < 0.5, -1, 1).astype(np.int8)
    words = pack_signs(signs)
    assert words.dtype == np.uint32
    assert words.size == packed_words(n_in, n_out) == n_in * -(-n_out // 32)
    np.testing.assert_array_equal(unpack_signs(words, n_in, n_out), signs)


def test_bit_order_is_input_major_lsb_first_one_row_per_input():
    # 2 neurons x 3 inputs: synapse (input i -> neuron j) is bit j of word i
    signs = np.array(
        [
            [+1, -1, -1],  # neuron 0: +1 from input 0 only -> word 0 bit 0
            [-1, -1, +1],
        ],  # neuron 1: +1 from input 2 only -> word 2 bit 1
        dtype=np.int8,
    )
    assert pack_signs(signs).tolist() == [0b01, 0b00, 0b10]


def test_every_row_is_padded_with_zero_bits_to_whole_words():
    signs = np.ones((33, 2), dtype=np.int8)  # 2 inputs x 33 neurons -> 2 rows of 2 words
    assert row_words(33) == 2
    assert pack_signs(signs).tolist() == [0xFFFFFFFF, 0x1, 0xFFFFFFFF, 0x1]


def test_mnist_600_weights_are_whole_word_rows():
    sizes = [(784, 600), (600, 10)]
    total = sum(4 * packed_words(n_in, n_out) for n_in, n_out in sizes)
    assert total == 4 * (784 * 19 + 600 * 1) == 61_984  # 58,800 + 750 bytes of synapses


def test_rejects_non_sign_values():
    with pytest.raises(ValueError, match=r"\+1/-1"):
        pack_signs(np.array([[1, 0]], dtype=np.int8))


@pytest.mark.parametrize("bad", [[[1, 2]], [[-3, 1]]])
def test_pack_signs_refuses_magnitudes_other_than_one(bad):
    with pytest.raises(ValueError, match=r"\+1/-1"):
        pack_signs(np.array(bad, dtype=np.int8))
