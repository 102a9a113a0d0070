"""Checks a `metacat export` file against metacat's own outputs.

  check_export.py MODEL.pt IO.pt            outputs of the PyTorch model built from
                                            MODEL.pt on IO.pt's inputs equal its outputs
  check_export.py --same ADAPTED.pt ADAPTED.h5   the two files hold the same tensors
Exit 0 when they match; prints the largest difference.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import metacat_model  # noqa: E402

if sys.argv[1] == "--same":
    import h5py
    state = metacat_model.load(sys.argv[2])
    with h5py.File(sys.argv[3], "r") as f:
        names = list(f["params"].keys())
        assert sorted(names) == sorted(state.keys()), (names, list(state.keys()))
        worst = max(float((torch.from_numpy(f["params"][n][()]) - state[n]).abs().max()) for n in names)
    metacat_model.from_state_dict(state)  # loads strictly into the documented model
    print("max difference", worst)
    sys.exit(0 if worst == 0 else 1)

state = metacat_model.load(sys.argv[1])
io = metacat_model.load(sys.argv[2])
model = metacat_model.from_state_dict(state)
with torch.no_grad():
    out = model(io["x"])
diff = float((out - io["y"]).abs().max())
print("max difference", diff, "over", tuple(out.shape))
sys.exit(0 if out.shape == io["y"].shape and diff < 1e-5 else 1)
