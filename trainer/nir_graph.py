"""A BS4NN model as a NIR graph (Neuromorphic Intermediate Representation, package `nir`), and back.

Out: Input -> (Linear with weights alpha_l * B_l -> IF) per weight layer -> Output. NIR's IF
fires when its potential v > v_threshold; ours when the count of +1 minus -1 inputs reaches
K = ceil(theta / alpha), i.e. when v = alpha * count > alpha * (K - 1/2), so that is the
threshold written. One spike per neuron is in the graph too: after a spike NIR sets v to
v_reset, which is alpha * (fan-in + 1) below the threshold, so no later input brings it back.
What the graph cannot say (the input coding, integer steps, the decision rule) is in its
metadata; the bs4nn model's own values (the real proxy weights, theta) ride in the nodes'
metadata, so that our own round trip is lossless.

In: graphs of that shape from any tool (Linear or bias-free Affine, then IF with one threshold
per layer). Weights are binarised with our sign rule (sign(0) = +1) and a per-layer alpha; the
import reports what that changed, and IF neurons whose v_reset lets them fire again (bs4nn
keeps the first spike). The graph decides; metadata is used only where it agrees with it.
Anything we cannot run is refused with the reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.files import check_input_file, made_for, user_path, write_atomic
from bs4nn.trainer.model import (
    Model,
    model_from_arrays,
    parse_training_record,
    training_record,
)
from bs4nn.trainer.presets import DATASETS
from bs4nn.trainer.semantics import K_MAX, binarize, threshold_count, weight_layer_name

PRODUCER = "bs4nn-edge"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # the first bytes of the HDF5 file a graph is
SEMANTICS = {
    "neuron": "non-leaky integrate-and-fire, fires at most once (v_reset is alpha x (fan-in "
    "+ 1) below v_threshold); the decision's tie-break uses the counts, not the reset v",
    "input_coding": "pixel intensity I (0..255) spikes once at step 255 - I; I = 0 never spikes",
    "time": "integer steps 0..255; a spike reaches the next layer in the same step",
    "threshold": "fires at the first step where alpha * (count of +1 minus -1 inputs) "
    "> v_threshold = alpha * (K - 1/2), K = ceil(theta / alpha)",
    "decision": "the first output spike; ties go to the largest count, then the lowest index; "
    "with no output spike by step 255 the largest count wins",
}


@dataclass
class NirImport:
    model: Model
    report: list[str]  # what the import changed or chose, one line per layer


def model_to_nir(model: Model):
    """The NIR graph of a binary model (the kind the firmware runs)."""
    import nir

    if model.weight_kind != "binary":
        raise Bs4nnError(
            f"NIR export is for binary models; this one has {model.weight_kind!r} weights (S4NN)"
        )
    nodes = {"input": nir.Input(input_type={"input": np.array([model.layer_sizes[0]])})}
    edges = []
    previous = "input"
    ks = model.thresholds()
    for layer, (w, alpha, theta, k) in enumerate(
        zip(model.weights, model.alphas, model.thetas, ks, strict=True)
    ):
        n_out, n_in = w.shape
        linear, neuron = f"linear_{layer}", f"if_{layer}"
        v_threshold = float(alpha) * (k - 0.5)
        nodes[linear] = nir.Linear(
            weight=float(alpha) * binarize(w).astype(np.float64),
            metadata={"bs4nn_alpha": float(alpha), "bs4nn_proxy_weights": np.asarray(w)},
        )
        nodes[neuron] = nir.IF(
            r=np.ones(n_out),
            v_threshold=np.full(n_out, v_threshold),
            # below the threshold by more than all inputs can add: fires at most once
            v_reset=np.full(n_out, v_threshold - float(alpha) * (n_in + 1)),
            metadata={"bs4nn_theta": float(theta), "bs4nn_k": int(k)},
        )
        edges += [(previous, linear), (linear, neuron)]
        previous = neuron
    nodes["output"] = nir.Output(output_type={"output": np.array([model.layer_sizes[-1]])})
    edges.append((previous, "output"))
    metadata = {
        "producer": PRODUCER,
        "bs4nn_model_hash": model.content_hash,
        "bs4nn_training_record": training_record(model),  # used where the hash agrees
        "dataset": model.dataset or "",
        **SEMANTICS,
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def is_nir_file(path: Path) -> bool:
    """Whether `path` is an HDF5 file, as a NIR graph is (unverified)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def write_nir(model: Model, path: str | Path) -> Path:
    """Write the model's NIR graph to `path` (HDF5), atomically."""
    import nir

    path = Path(path)
    hdf5 = io.BytesIO()
    nir.write(hdf5, model_to_nir(model))  # in memory: h5py on a full disk crashed the process
    with made_for(path.parent), user_path(path, "write"):
        write_atomic(path, hdf5.getvalue())
    return path


def read_nir(path: str | Path) -> NirImport:
    """Read a NIR file and convert it (see `model_from_nir`)."""
    import nir

    path = Path(path)
    check_input_file(path, "NIR file")
    try:
        graph = nir.read(path)
    except Exception as exc:  # h5py and nir raise many kinds on a foreign or damaged file
        raise Bs4nnError(
            f"{path} is not a readable NIR file ({type(exc).__name__}: {exc})"
        ) from None
    return model_from_nir(graph)


def _chain(graph) -> list[str]:
    """Node names from the Input to the Output, for a graph that is one straight chain."""
    inputs = [n for n, node in graph.nodes.items() if type(node).__name__ == "Input"]
    if len(inputs) != 1:
        raise Bs4nnError(f"the graph has {len(inputs)} Input nodes; bs4nn runs one input layer")
    following: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        following.setdefault(src, []).append(dst)
    chain = [inputs[0]]
    while type(graph.nodes[chain[-1]]).__name__ != "Output":
        nxt = following.get(chain[-1], [])
        if len(nxt) != 1 or nxt[0] in chain:
            raise Bs4nnError(
                f"node {chain[-1]!r} has {len(nxt)} successors; bs4nn runs a "
                "straight chain of layers (no branches or recurrence)"
            )
        chain.append(nxt[0])
    if len(graph.nodes) != len(chain):
        raise Bs4nnError(
            f"the graph has {len(graph.nodes) - len(chain)} node(s) off the input-to-output chain"
        )
    return chain


def _weights(name: str, node) -> np.ndarray:
    kind = type(node).__name__
    if kind == "Affine" and np.any(np.asarray(node.bias) != 0):
        raise Bs4nnError(f"node {name!r} (Affine) has a non-zero bias; BS4NN neurons have none")
    if kind not in ("Linear", "Affine"):
        raise Bs4nnError(f"node {name!r} is a {kind}; bs4nn expects Linear or Affine here")
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 2 or not np.isfinite(w).all():
        raise Bs4nnError(f"node {name!r}: weights must be a finite 2-D matrix, got shape {w.shape}")
    return w


def _fires_again(node, w: np.ndarray) -> bool:
    """Whether, in NIR, a neuron of this IF node can fire a second time: after a spike v is
    v_reset, and the most the inputs can still add is r times its positive weights (each input
    spikes once)."""
    n_out = w.shape[0]
    r = np.broadcast_to(np.asarray(node.r, dtype=np.float64), (n_out,))
    v_th = np.broadcast_to(np.asarray(node.v_threshold, dtype=np.float64), (n_out,))
    v_reset = np.broadcast_to(np.asarray(node.v_reset, dtype=np.float64), (n_out,))
    with np.errstate(over="ignore"):  # a rise beyond the floats is inf, and fires again
        rise = r * np.clip(w, 0, None).sum(axis=1)
        return bool(np.any(v_reset + rise > v_th))


def _threshold(name: str, node, n_out: int) -> float:
    """The layer's common firing level v_threshold / r (NIR's IF integrates r * input)."""
    kind = type(node).__name__
    if kind != "IF":
        raise Bs4nnError(f"node {name!r} is a {kind}; bs4nn runs non-leaky IF neurons only")
    r = np.broadcast_to(np.asarray(node.r, dtype=np.float64), (n_out,))
    v = np.broadcast_to(np.asarray(node.v_threshold, dtype=np.float64), (n_out,))
    level = v / r
    if not (np.all(r > 0) and np.isfinite(level).all()):
        raise Bs4nnError(f"node {name!r}: r must be positive and thresholds finite")
    if np.ptp(level) != 0:
        raise Bs4nnError(
            f"node {name!r}: thresholds differ between neurons ({level.min():g} to "
            f"{level.max():g}); bs4nn has one threshold per layer"
        )
    if not level[0] >= 0:
        raise Bs4nnError(
            f"node {name!r}: threshold {level[0]:g} is negative; a neuron would "
            "fire before any input"
        )
    return float(level[0])


def _threshold_count(level: float, alpha: float) -> tuple[int, bool]:
    """K, the count at which alpha * count > level, and whether level is a whole multiple of
    alpha to within float rounding. There the float quotient may land on either side of the
    integer (0.7 / 0.1 = 6.999...), so it is taken as the multiple it stands for: the count
    must exceed it."""
    ratio = level / alpha
    if ratio > K_MAX:  # also inf (a weight of 1e-320): no int16 counter holds it
        return int(np.floor(min(ratio, 1e300))) + 1, False
    nearest = round(ratio)
    on_multiple = nearest >= 1 and abs(ratio - nearest) <= 1e-6 * ratio
    return (nearest if on_multiple else int(np.floor(ratio))) + 1, on_multiple


def _number(value) -> float | None:
    """A finite number from metadata, or None: metadata is a hint that may be damaged."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _numeric(value) -> bool:
    """Whether metadata holds an array of real numbers."""
    try:
        dtype = np.asarray(value).dtype
    except ValueError:  # ragged
        return False
    return value is not None and (
        np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)
    )


def model_from_nir(graph) -> NirImport:
    """A bs4nn model from a NIR graph Input -> (Linear|Affine -> IF)* -> Output."""
    chain = _chain(graph)
    body = chain[1:-1]
    if not body or len(body) % 2:
        raise Bs4nnError(
            f"between Input and Output bs4nn expects pairs of Linear/Affine and IF "
            f"nodes; found {', '.join(body) or 'nothing'}"
        )
    weights, alphas, thetas, report = [], [], [], []
    count = len(body) // 2
    for layer in range(count):
        name = weight_layer_name(layer, count)
        lname, iname = body[2 * layer], body[2 * layer + 1]
        w = _weights(lname, graph.nodes[lname])
        level = _threshold(iname, graph.nodes[iname], w.shape[0])
        lmeta, imeta = graph.nodes[lname].metadata, graph.nodes[iname].metadata
        magnitudes = np.abs(w)
        with np.errstate(over="ignore"):
            alpha = float(magnitudes.flat[0] if np.ptp(magnitudes) == 0 else magnitudes.mean())
        if not alpha > 0:
            raise Bs4nnError(f"node {lname!r}: all weights are zero")
        if not np.isfinite(alpha):
            raise Bs4nnError(
                f"node {lname!r}: the weights' mean magnitude overflows a float; scale them down"
            )
        k, on_multiple = _threshold_count(level, alpha)
        if k > K_MAX:
            inputs = f"{k:,}" if k < 10**9 else "more than 10^9"
            raise Bs4nnError(
                f"node {iname!r}: v_threshold / r = {level:g} is {inputs} inputs of weight "
                f"{alpha:g} (K); bs4nn's int16 counters allow K up to {K_MAX:,}"
            )
        proxy = lmeta.get("bs4nn_proxy_weights")
        theta = _number(imeta.get("bs4nn_theta"))
        ours = (  # metadata that agrees with the graph: weights, K and theta
            _numeric(proxy)
            and theta is not None
            and theta > 0
            and np.shape(proxy) == w.shape
            and np.array_equal(alpha * binarize(proxy), w)
            and _number(imeta.get("bs4nn_k")) == k
            and threshold_count(theta, alpha) == k
        )
        if ours:  # written by bs4nn: keep the real proxy weights and theta as they were
            weights.append(np.asarray(proxy, dtype=np.float64))
            thetas.append(float(theta))
            report.append(
                f"{name}: {w.shape[1]}->{w.shape[0]}, bs4nn's own weights, "
                f"alpha {alpha:g}, theta {float(theta):g}, K {k}"
            )
        else:
            signs = binarize(w)
            changed = int(np.count_nonzero(alpha * signs != w))
            weights.append(w)
            thetas.append((k - 0.5) * alpha)  # ceil(theta / alpha) = K, away from rounding
            report.append(
                f"{name}: {w.shape[1]}->{w.shape[0]}, binarised to alpha {alpha:g} x "
                f"sign(W): {changed:,} of {w.size:,} weights changed value; v_threshold / r "
                f"= {level:g} -> K {k} (fires at count >= {k})"
            )
        if on_multiple:
            report.append(
                f"{name}: v_threshold / r = {level:g} is {k - 1} x {alpha:g} to within "
                f"rounding: NIR's v > v_threshold needs count {k}; a simulator's float rounding "
                f"may fire at {k - 1}"
            )
        if _fires_again(graph.nodes[iname], w):
            report.append(
                f"{name}: v_reset lets these IF neurons fire again in NIR; bs4nn neurons "
                "fire once (the first spike counts)"
            )
        alphas.append(alpha)
    dataset = str(graph.metadata.get("dataset", "")) or None
    model = model_from_arrays(
        weights, alphas, thetas, dataset=dataset if dataset in DATASETS else None
    )
    record = parse_training_record(str(graph.metadata.get("bs4nn_training_record", "")))
    if record is not None and graph.metadata.get("bs4nn_model_hash") == model.content_hash:
        model = replace(model, **record)  # bs4nn's own graph, unchanged: its training record
    return NirImport(model, report)
