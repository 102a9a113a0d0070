"""PyTorch definitions of metacat's models, for files from `metacat export`
and `metacat adapt` (a state_dict: a dict of parameter name -> tensor).

    import torch, metacat_model
    state = metacat_model.load("model.pt")         # torch.load, weights only
    model = metacat_model.from_state_dict(state)   # builds the right module
    scores = model(x)                              # x: [n, features] or [n, 1, 28, 28]

The parameter names are metacat's own, so load_state_dict(strict=True) works:
  mlp / preference   body.<i>.weight/bias (Linear + ReLU), head.weight/bias (Linear)
  conv4              conv<i>.weight/bias (3x3, padding 1), bn<i>.weight/bias,
                     then ReLU and 2x2 max pooling, i = 0..3; head.weight/bias
Batch norm normalises with the statistics of the batch it is given (as metacat
does at training and at evaluation): BatchNorm2d(track_running_stats=False).
A preference model's single output is the logit of a positive interaction.

metacat writes .pt files with LibTorch's pickler, which tags a dict's key
and value types through torch.jit._pickle.restore_type_tag; torch.load's
weights-only mode (the default from torch 2.6) refuses that function unless
it is allowed, so load() allows it, and nothing else.
"""
import torch
from torch import nn


def load(path):
    """torch.load of a metacat .pt file, in weights-only mode where it exists."""
    serialization = torch.serialization
    if hasattr(serialization, "safe_globals"):
        from torch.jit._pickle import restore_type_tag
        with serialization.safe_globals([restore_type_tag]):
            return torch.load(path, weights_only=True)
    return torch.load(path)


class MLP(nn.Module):
    """mlp and preference models: Linear+ReLU layers, then a linear head."""

    def __init__(self, inputs, hidden, outputs):
        super().__init__()
        sizes = [inputs] + list(hidden)
        self.body = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], outputs)

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        for layer in self.body:
            x = torch.relu(layer(x))
        return self.head(x)


class Conv4(nn.Module):
    """conv4: four [conv 3x3 -> batch norm -> ReLU -> max-pool 2x2] blocks, then a linear head."""

    def __init__(self, channels, width, feature_dim, outputs):
        super().__init__()
        for i in range(4):
            setattr(self, f"conv{i}", nn.Conv2d(channels if i == 0 else width, width, 3, padding=1))
            setattr(self, f"bn{i}", nn.BatchNorm2d(width, track_running_stats=False))
        self.head = nn.Linear(feature_dim, outputs)

    def forward(self, x):
        for i in range(4):
            x = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x))
            x = nn.functional.max_pool2d(torch.relu(x), 2)
        return self.head(x.flatten(1))


def from_state_dict(state):
    """Builds the model a metacat state_dict describes and loads it (strict)."""
    if "conv0.weight" in state:
        w = state["conv0.weight"]
        model = Conv4(w.shape[1], w.shape[0], state["head.weight"].shape[1], state["head.weight"].shape[0])
    else:
        layers = sorted(int(k.split(".")[1]) for k in state if k.startswith("body.") and k.endswith(".weight"))
        hidden = [state[f"body.{i}.weight"].shape[0] for i in layers]
        model = MLP(state["body.0.weight"].shape[1], hidden, state["head.weight"].shape[0])
    model.load_state_dict(state, strict=True)
    return model.to(next(iter(state.values())).dtype)
