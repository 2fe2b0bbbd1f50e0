"""Reading a StyleGAN2-ADA `network-snapshot-*.pkl` without NVIDIA's code and without running
anything from the file.

A snapshot is a plain pickle of a dict (G, D, G_ema, augment_pipe, training_set_kwargs). Each
network in it is a "persistent" object: the pickle calls
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, where meta holds the whole source of
the network's Python module, the class name, the constructor arguments and the state. The official
loader executes that source, so an untrusted snapshot runs arbitrary code.

Here a restricted unpickler resolves only the few globals such a file needs, each to a function of
our own that checks what it is given:
- the persistent-object hook keeps meta as an inert `Record` (its module source is never compiled
  or executed, only its length is kept), and refuses a class that is not a StyleGAN2-ADA network;
- tensors are rebuilt with torch's own data-only loader (`weights_only=True`);
- numpy scalars and dtypes are rebuilt from their bytes;
- dnnlib's EasyDict, in which NVIDIA's train.py keeps the networks' keyword arguments, is a plain dict.
Any other global, `os.system` or `builtins.eval` included, stops the load with an error that names
it. The generator is then built by emosketch's own `networks.Generator` from G_ema's stored
constructor arguments, and every submodule's class, plain attributes, parameters and buffers are
checked against what that build made.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import EmosketchError, is_whole, shown
from . import networks

# The classes the generator is built from, and the others a snapshot may hold (the discriminator
# and the augmentation pipeline), which are kept as inert records and never built.
GENERATOR_CLASSES = {"Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer",
                     "ToRGBLayer", "FullyConnectedLayer", "Conv2dLayer"}
INERT_CLASSES = {"Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue", "MinibatchStdLayer",
                 "AugmentPipe"}
SNAPSHOT_KEYS = {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs", "progress"}


@dataclass
class Record:
    """One persistent object as stored: its class name and state, never its code."""
    class_name: str
    version: int
    source_chars: int  # length of the stored module source (kept for `info`; never run)
    state: dict

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args", ()))

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs", {}))

    def children(self) -> dict:
        return dict(self.state.get("_modules", {}))


def _persistent(meta) -> Record:
    if not isinstance(meta, dict):
        raise EmosketchError("a persistent object's metadata is not a dict")
    if meta.get("type") != "class":
        raise EmosketchError(f"persistent object of type {meta.get('type')!r}: only 'class' objects are read")
    name = meta.get("class_name")
    if not isinstance(name, str):
        raise EmosketchError("a persistent object has no class name")
    if name not in GENERATOR_CLASSES | INERT_CLASSES:
        hint = " (a StyleGAN3 network? only StyleGAN2-ADA snapshots are read)" if name in (
            "SynthesisInput", "SynthesisLayer3") else ""
        raise EmosketchError(f"persistent class {name!r} is not a StyleGAN2-ADA network class; refused{hint}")
    state, src = meta.get("state"), meta.get("module_src")
    if not isinstance(state, dict) or not isinstance(src, str):
        raise EmosketchError(f"persistent object {name!r} has no state dict or module source")
    return Record(name, int(meta.get("version", 0)), len(src), state)


def _storage_from_bytes(data) -> torch.TypedStorage:
    if not isinstance(data, (bytes, bytearray)):
        raise EmosketchError("a tensor's storage is not stored as bytes")
    try:
        storage = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:  # torch's text advises loading with weights_only=False: quote its reason only
        why = next((line.strip() for line in str(exc).splitlines() if "GLOBAL" in line or "error" in line.lower()),
                   "torch's data-only loader refused it")
        raise EmosketchError(f"a tensor's storage holds more than data; refused ({why[:160]})") from None
    if not isinstance(storage, torch.TypedStorage):
        raise EmosketchError(f"a tensor's storage bytes hold a {type(storage).__name__}, not a typed storage")
    return storage


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None) -> torch.Tensor:
    if not isinstance(storage, (torch.UntypedStorage, torch.TypedStorage)):
        raise EmosketchError("a tensor is built from something that is not a storage")
    if hooks:
        raise EmosketchError("a tensor carries backward hooks; refused")
    if not isinstance(storage, torch.TypedStorage):  # torch.load gives a typed one for a legacy storage
        raise EmosketchError("a tensor is built from a storage without a dtype")
    dtype, storage = storage.dtype, storage._untyped_storage
    t = torch.empty((0,), dtype=dtype)
    t = t.set_(storage, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))
    if t.numel() > storage.nbytes() // t.element_size() - int(offset):  # strides of 0: one value claims many
        raise EmosketchError(f"a tensor claims {t.numel():,} values from a storage of "
                             f"{storage.nbytes() // t.element_size():,}; refused")
    return t


def _rebuild_parameter(data, requires_grad=True, hooks=None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise EmosketchError("a parameter wraps something that is not a tensor")
    if hooks:
        raise EmosketchError("a parameter carries backward hooks; refused")
    return data


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, (bytes, bytearray)):
        raise EmosketchError("a numpy scalar that is not plain numbers; refused")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_dtype(name, align=False, copy=False) -> np.dtype:
    if not isinstance(name, str):
        raise EmosketchError("a numpy dtype that is not named by a string; refused")
    dtype = np.dtype(name)
    if dtype.hasobject:
        raise EmosketchError("a numpy object dtype; refused")
    return dtype


ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): _numpy_dtype,
    # NVIDIA's train.py passes the networks' keyword arguments (mapping_kwargs, synthesis_kwargs, block_kwargs...)
    # as dnnlib.EasyDict, a dict with attribute access, and persistence stores them as they are: every snapshot it
    # writes, and its released ones, name it. Rebuilt as a plain dict (a pickle builds it with NEWOBJ and its items).
    ("dnnlib.util", "EasyDict"): dict,
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        fn = ALLOWED.get((module, name))
        if fn is None:
            raise EmosketchError(f"the pickle asks for the global {module}.{name}, which a StyleGAN2-ADA "
                                 "snapshot does not need; refused before anything ran")
        return fn

    def persistent_load(self, pid):
        raise EmosketchError("the pickle uses persistent ids, which a StyleGAN2-ADA snapshot does not; refused")


def read_snapshot(path: str | Path) -> dict:
    """The snapshot's top-level dict, with networks as `Record`s. Raises EmosketchError for
    anything that is not a StyleGAN2-ADA snapshot."""
    path = Path(path)
    if not path.is_file():
        raise EmosketchError(f"{path}: no such snapshot file")
    try:
        with open(path, "rb") as f:
            data = _Unpickler(f).load()
    except EmosketchError as exc:
        raise EmosketchError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, RuntimeError, MemoryError, OverflowError) as exc:  # a length of 2^62 bytes: MemoryError
        raise EmosketchError(f"{path}: not a readable network pickle ({type(exc).__name__}: {exc})"[:300]) from None
    if not isinstance(data, dict) or "G_ema" not in data:
        raise EmosketchError(f"{path}: not a StyleGAN2-ADA snapshot (no G_ema in it)")
    extra = set(data) - SNAPSHOT_KEYS
    if extra:
        raise EmosketchError(f"{path}: unexpected snapshot keys {sorted(extra)}")
    if not isinstance(data["G_ema"], Record) or data["G_ema"].class_name != "Generator":
        raise EmosketchError(f"{path}: G_ema is not a StyleGAN2-ADA Generator")
    for key in ("progress", "training_set_kwargs"):
        if key in data and _values(data[key], {}, 0) > MAX_PLAIN:
            raise EmosketchError(f"{path}: its {key!r} entry holds more than {MAX_PLAIN:,} values (with its shared "
                                 "parts written out) or is nested deeper than 16; refused")
    return data


MAX_PLAIN = 10_000  # values in a snapshot's plain entries (a dict of numbers and names in the official code)


def _values(value, sizes: dict[int, int], depth: int) -> int:
    """How many values `value` holds with shared parts written out (memoised), MAX_PLAIN + 1 past 16 deep."""
    if not isinstance(value, (dict, list, tuple)):
        return 1
    if depth > 16:
        return MAX_PLAIN + 1
    if id(value) not in sizes:
        items = [x for kv in value.items() for x in kv] if isinstance(value, dict) else value
        sizes[id(value)] = min(MAX_PLAIN + 1, 1 + sum(_values(x, sizes, depth + 1) for x in items))
    return sizes[id(value)]


_ABSENT = object()
PLAIN = (bool, int, float, str, type(None), np.floating, np.integer, np.bool_)


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
        return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    return a == b


def _load_record(module: torch.nn.Module, rec: Record, where: str, copy: bool = True) -> None:
    """Check one stored object against our freshly built module and copy its tensors in (copy=False:
    only check, as against a module on the meta device)."""
    if rec.class_name not in [c.__name__ for c in type(module).__mro__]:
        raise EmosketchError(f"{where}: stored as {rec.class_name}, but this layout builds a {type(module).__name__}")
    state = rec.state
    for key, value in state.items():  # plain attributes both sides know must agree
        if key.startswith("_") or key == "training" or not isinstance(value, PLAIN + (list, tuple)):
            continue
        mine = getattr(module, key, _ABSENT)
        if isinstance(mine, PLAIN + (list, tuple)) and not _same(mine, value):
            raise EmosketchError(f"{where}.{key}: stored {shown(value)}, but its constructor arguments give {shown(mine)}")
    for kind in ("_parameters", "_buffers"):
        stored = {k: v for k, v in dict(state.get(kind, {})).items() if v is not None}
        ours = dict(module._parameters if kind == "_parameters" else module._buffers)
        ours = {k: v for k, v in ours.items() if v is not None}
        if set(stored) != set(ours):
            raise EmosketchError(f"{where}: stored {kind[1:]} {sorted(stored)} but expected {sorted(ours)}")
        for k, v in stored.items():
            if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(ours[k].shape):
                got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                raise EmosketchError(f"{where}.{k}: stored {got}, expected {tuple(ours[k].shape)}")
            if copy:
                with torch.no_grad():
                    ours[k].copy_(v.to(torch.float32))
    stored_children = {k: v for k, v in rec.children().items() if v is not None}
    our_children = dict(module.named_children())
    if set(stored_children) != set(our_children):
        raise EmosketchError(f"{where}: stored submodules {sorted(stored_children)} but expected {sorted(our_children)}")
    for k, child in stored_children.items():
        if not isinstance(child, Record):
            raise EmosketchError(f"{where}.{k}: a submodule that is not a persistent network object")
        _load_record(our_children[k], child, f"{where}.{k}", copy)


GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")
MAPPING_KWARGS = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
SYNTHESIS_KWARGS = {"channel_base", "channel_max", "num_fp16_res", "architecture", "resample_filter", "conv_clamp",
                    "fp16_channels_last", "use_noise", "activation", "kernel_size", "channels_last"}


# Bounds on the sizes a constructor argument may give (the official configs sit well inside them):
# whole numbers, checked before anything is built, even on the meta device.
BOUNDS = {"z_dim": (1, 4096), "c_dim": (0, 4096), "w_dim": (1, 4096), "img_resolution": (4, 2048),
          "img_channels": (1, 4), "num_layers": (1, 32), "embed_features": (0, 4096), "layer_features": (1, 4096),
          "channel_base": (1, 1 << 18), "channel_max": (1, 4096), "num_fp16_res": (0, 16), "kernel_size": (1, 7)}


def _whole(name: str, value, where: str) -> int:
    low, high = BOUNDS[name]
    if not is_whole(value) or not low <= value <= high:
        raise EmosketchError(f"{where} {name} = {shown(value)}: expected a whole number from {low} to {high}")
    return int(value)


def checked_kwargs(kwargs, where: str = "G_ema") -> dict:
    """A Generator's constructor keywords (a snapshot's or a converted file's), checked against what our
    Generator knows and bounded, so that no build can allocate out of proportion to the file."""
    if not isinstance(kwargs, dict):
        raise EmosketchError(f"{where}: its constructor arguments are not a mapping")
    unknown = set(kwargs) - set(GENERATOR_ARGS)
    if unknown:
        raise EmosketchError(f"{where} has constructor arguments this loader does not know: {shown(sorted(map(str, unknown)))}")
    missing = set(GENERATOR_ARGS[:5]) - set(kwargs)
    if missing:
        raise EmosketchError(f"{where} lacks constructor arguments {sorted(missing)}")
    out = {name: _whole(name, kwargs[name], where) for name in GENERATOR_ARGS[:5]}
    for name, known in (("mapping_kwargs", MAPPING_KWARGS), ("synthesis_kwargs", SYNTHESIS_KWARGS)):
        value = kwargs.get(name) or {}
        if not isinstance(value, dict):
            raise EmosketchError(f"{where} {name} is not a mapping")
        bad = set(value) - known
        if bad:
            raise EmosketchError(f"{where} {name} has keys this loader does not know: {shown(sorted(map(str, bad)))}")
        out[name] = {k: (float(v) if isinstance(v, np.floating) else int(v) if isinstance(v, np.integer) else v)
                     for k, v in value.items()}
        for k, v in out[name].items():
            if k in BOUNDS and not (v is None and k.endswith("_features")):
                out[name][k] = _whole(k, v, f"{where} {name}")
            elif not isinstance(v, PLAIN + (list, tuple)) or (isinstance(v, (list, tuple)) and (
                    len(v) > 16 or not all(isinstance(x, (int, float)) for x in v))):
                raise EmosketchError(f"{where} {name}.{k} = {shown(v)}: not a plain value")
    return out


def generator_kwargs(rec: Record) -> dict:
    """G_ema's constructor arguments as keywords, checked against what our Generator knows."""
    args = rec.init_args
    if len(args) > len(GENERATOR_ARGS):
        raise EmosketchError(f"G_ema has {len(args)} positional constructor arguments; a Generator takes at most 7")
    kwargs = dict(zip(GENERATOR_ARGS, args))
    kwargs.update(rec.init_kwargs)
    return checked_kwargs(kwargs)


def build_generator(rec: Record, make=networks.Generator) -> networks.Generator:
    """G_ema built by `make` (networks.Generator or a subclass) from its stored constructor
    arguments, checked against the stored state and loaded with it. The check runs first on a
    build on the meta device, which allocates nothing: a layout the file's tensors do not fill is
    refused before the real build."""
    kwargs = generator_kwargs(rec)
    with torch.device("meta"):
        _load_record(make(**kwargs), rec, "G_ema", copy=False)
    G = make(**kwargs)
    _load_record(G, rec, "G_ema")
    return G.eval().requires_grad_(False)
