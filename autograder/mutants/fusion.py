"""Mutants and valid variants of solutions/fusion.py (see autograder/mutants/__init__.py)."""

from autograder.mutants import mutant, variant

# ----------------------------------------------------------------------------- ConcatFusion
CONCAT_MLP = """        self.mlp = nn.Sequential(
            nn.Linear(sum(self.input_dims), hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, output_dim),
        )"""
CONCAT_FORWARD = "return self.mlp(torch.cat(features, dim=1))"

CONCAT = [
    mutant("concat-no-relu", "ConcatFusion", ("            nn.ReLU(),\n            nn.Dropout(dropout),",
                                              "            nn.Dropout(dropout),"),
           feedback=r"ReLU between the two Linear layers is missing",
           why="the MLP without its nonlinearity: two Linear layers collapse into one"),
    mutant("concat-relu-on-logits", "ConcatFusion",
           ("            nn.Linear(hidden_dim, output_dim),\n        )",
            "            nn.Linear(hidden_dim, output_dim),\n            nn.ReLU(),\n        )"),
           feedback=r"ReLU follows the last Linear", why="a ReLU after the output layer: negative logits are clipped"),
    mutant("concat-functional-dropout-always-on", "ConcatFusion",
           (CONCAT_MLP, "        self.fc1 = nn.Linear(sum(self.input_dims), hidden_dim)\n"
                        "        self.fc2 = nn.Linear(hidden_dim, output_dim)\n"
                        "        self.p = dropout"),
           (CONCAT_FORWARD, "h = torch.relu(self.fc1(torch.cat(features, dim=1)))\n"
                            "        return self.fc2(nn.functional.dropout(h, self.p))"),
           feedback=r"eval mode.*dropout", why="F.dropout without training=self.training: still dropping in eval mode"),
    mutant("concat-no-feature-check", "ConcatFusion",
           ("        _check_features(features, self.input_dims)\n        return self.mlp(", "        return self.mlp("),
           feedback=r"given features of widths 6 and 5: raised \w+, expected ValueError",
           why="no shape check: widths that do not match input_dims fail deep inside the MLP with torch's own error"),
]

CONCAT_VARIANTS = [
    variant("concat-explicit-layers", "ConcatFusion",
            (CONCAT_MLP, "        self.fc1 = nn.Linear(sum(self.input_dims), hidden_dim)\n"
                         "        self.fc2 = nn.Linear(hidden_dim, output_dim)\n"
                         "        self.p = dropout"),
            (CONCAT_FORWARD, "h = torch.relu(self.fc1(torch.cat(features, dim=-1)))\n"
                             "        return self.fc2(nn.functional.dropout(h, self.p, training=self.training))"),
            why="explicit layers with F.relu and F.dropout(training=self.training)"),
    variant("concat-dropout-before-relu", "ConcatFusion",
            ("            nn.ReLU(),\n            nn.Dropout(dropout),", "            nn.Dropout(dropout),\n            nn.ReLU(),"),
            why="dropout before the ReLU: the same function (a positive rescaling commutes with ReLU)"),
]

# ----------------------------------------------------------------------------- LateFusion
LATE_HEADS = """        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(d, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, output_dim))
            for d in self.input_dims
        )"""
LATE_FORWARD = "return torch.stack([head(x) for head, x in zip(self.heads, features, strict=True)]).mean(dim=0)"

LATE = [
    mutant("late-sum", "LateFusion",
           (LATE_FORWARD, "return torch.stack([head(x) for head, x in zip(self.heads, features, strict=True)]).sum(dim=0)"),
           feedback=r"sums the \d heads' logits", why="sums the per-modality logits where the docstring averages"),
    mutant("late-average-probabilities", "LateFusion",
           (LATE_FORWARD, "return torch.stack([head(x).softmax(dim=-1) for head, x in zip(self.heads, features, "
                          "strict=True)]).mean(dim=0)"),
           feedback=r"averages softmax probabilities", why="averages probabilities, not logits"),
    mutant("late-heads-in-python-list", "LateFusion",
           (LATE_HEADS, "        self.heads = [\n"
                        "            nn.Sequential(nn.Linear(d, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, output_dim))\n"
                        "            for d in self.input_dims\n"
                        "        ]"),
           feedback=r"registered", why="heads kept in a Python list: invisible to parameters(), .to() and the optimiser"),
    mutant("late-heads-without-relu", "LateFusion",
           ("nn.Sequential(nn.Linear(d, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, output_dim))\n            for d",
            "nn.Sequential(nn.Linear(d, hidden_dim), nn.Linear(hidden_dim, output_dim))\n            for d"),
           feedback=r"no ReLU", why="each head without its nonlinearity"),
]

LATE_VARIANTS = [
    variant("late-running-sum-divided", "LateFusion",
            (LATE_FORWARD, "total = 0\n"
                           "        for head, x in zip(self.heads, features, strict=True):\n"
                           "            total = total + head(x)\n"
                           "        return total / len(self.heads)"),
            why="a running sum divided by the number of modalities"),
]

# ----------------------------------------------------------------------------- TensorFusion
TENSOR_LINEAR = "self.linear = nn.Linear(math.prod(d + 1 for d in self.input_dims), output_dim)"
TENSOR_FIRST = "fused = _with_one(features[0])"
TENSOR_STEP = "fused = (fused.unsqueeze(2) * _with_one(x).unsqueeze(1)).flatten(1)"

TENSOR = [
    mutant("tensor-no-constant-one", "TensorFusion",
           (TENSOR_LINEAR, "self.linear = nn.Linear(math.prod(self.input_dims), output_dim)"),
           (TENSOR_FIRST, "fused = features[0]"),
           (TENSOR_STEP, "fused = (fused.unsqueeze(2) * x.unsqueeze(1)).flatten(1)"),
           feedback=r"constant 1 is missing", why="the plain outer product: unimodal and bias terms are lost"),
    mutant("tensor-last-modality-slowest", "TensorFusion",
           (TENSOR_STEP, "fused = (_with_one(x).unsqueeze(2) * fused.unsqueeze(1)).flatten(1)"),
           feedback=r"LAST modality slowest", why="the outer product built in the other order: a different flattening"),
    mutant("tensor-one-appended", "TensorFusion",
           ("return torch.cat([x.new_ones(x.shape[0], 1), x], dim=1)",
            "return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)"),
           feedback=r"appended after x_i", why="[x, 1] instead of [1, x]: the weight layout no longer matches"),
]

TENSOR_VARIANTS = [
    variant("tensor-einsum-pad", "TensorFusion",
            (TENSOR_FIRST, "fused = nn.functional.pad(features[0], (1, 0), value=1.0)"),
            (TENSOR_STEP, "z = nn.functional.pad(x, (1, 0), value=1.0)\n"
                          "            fused = torch.einsum('bp,bq->bpq', fused, z).reshape(x.shape[0], -1)"),
            why="F.pad for the constant 1 and einsum for the outer product"),
]

# ----------------------------------------------------------------------------- LowRankFusion
LOW_PRODUCT = "product = projected if product is None else product * projected"
LOW_RETURN = 'return torch.einsum("bro,r->bo", product, self.rank_weights) + self.bias'

LOW_RANK = [
    mutant("lowrank-factors-summed", "LowRankFusion",
           (LOW_PRODUCT, "product = projected if product is None else product + projected"),
           feedback=r"summed over the modalities", why="adds the per-modality projections instead of multiplying"),
    mutant("lowrank-no-constant-one", "LowRankFusion",
           ("nn.Parameter(nn.init.xavier_normal_(torch.empty(rank, d + 1, output_dim))) for d in self.input_dims",
            "nn.Parameter(nn.init.xavier_normal_(torch.empty(rank, d, output_dim))) for d in self.input_dims"),
           ('projected = torch.einsum("bj,rjo->bro", _with_one(x), factor)',
            'projected = torch.einsum("bj,rjo->bro", x, factor)'),
           feedback=r"constant 1 .*missing", why="no 1 appended: the low-rank tensor loses its unimodal terms"),
    mutant("lowrank-bias-not-added", "LowRankFusion",
           (LOW_RETURN, 'return torch.einsum("bro,r->bo", product, self.rank_weights)'),
           feedback=r"bias is not added", why="the bias is registered but never added (zero at init: invisible there)"),
    mutant("lowrank-rank-weights-ignored", "LowRankFusion",
           (LOW_RETURN, "return product.sum(dim=1) + self.bias"),
           feedback=r"rank_weights are not applied", why="a plain sum over the rank: rank_weights unused"),
]

LOW_RANK_VARIANTS = [
    variant("lowrank-stacked-product", "LowRankFusion",
            ("        product = None\n"
             "        for x, factor in zip(features, self.factors, strict=True):\n"
             '            projected = torch.einsum("bj,rjo->bro", _with_one(x), factor)  # (B, rank, output_dim)\n'
             "            " + LOW_PRODUCT + "\n",
             "        product = torch.stack([torch.einsum('bj,rjo->bro', _with_one(x), factor)\n"
             "                               for x, factor in zip(features, self.factors, strict=True)]).prod(dim=0)\n"),
            (LOW_RETURN, "return (product * self.rank_weights[None, :, None]).sum(dim=1) + self.bias"),
            why="the projections stacked and multiplied at once; the rank weights broadcast"),
]

# ----------------------------------------------------------------------------- GatedFusion
GATE_LAYER = "self.gate = nn.Linear(d1 + d2, hidden_dim)"
GATE = "g = torch.sigmoid(self.gate(torch.cat([x1, x2], dim=1)))"
GATED_MIX = "h = g * torch.tanh(self.proj1(x1)) + (1 - g) * torch.tanh(self.proj2(x2))"

GATED = [
    mutant("gated-gate-from-one-modality", "GatedFusion",
           (GATE_LAYER, "self.gate = nn.Linear(d1, hidden_dim)"), (GATE, "g = torch.sigmoid(self.gate(x1))"),
           feedback=r"gate.*both modalities", why="the gate looks at the first modality only"),
    mutant("gated-swapped-gate", "GatedFusion",
           (GATED_MIX, "h = (1 - g) * torch.tanh(self.proj1(x1)) + g * torch.tanh(self.proj2(x2))"),
           feedback=r"swapped", why="g <-> 1 - g"),
    mutant("gated-no-tanh", "GatedFusion", (GATED_MIX, "h = g * self.proj1(x1) + (1 - g) * self.proj2(x2)"),
           feedback=r"tanh is missing", why="h_1, h_2 without their tanh"),
    mutant("gated-no-sigmoid", "GatedFusion", (GATE, "g = self.gate(torch.cat([x1, x2], dim=1))"),
           feedback=r"no sigmoid", why="an unbounded gate: no sigmoid"),
    mutant("gated-accepts-three-modalities", "GatedFusion",
           ("        if len(self.input_dims) != 2:\n"
            "            raise ValueError(f\"GatedFusion takes exactly 2 modalities, input_dims has {len(self.input_dims)}\")\n"
            "        d1, d2 = self.input_dims\n", "        d1, d2 = self.input_dims[:2]\n"),
           feedback=r"it takes exactly two modalities\): returned normally, expected ValueError",
           why="a third modality silently dropped: the first two dims are unpacked and the rest ignored"),
    mutant("gated-gate-reads-reversed", "GatedFusion", (GATE, "g = torch.sigmoid(self.gate(torch.cat([x2, x1], dim=1)))"),
           feedback=r"reads \[x_2; x_1\]", why="the gate's input concatenated in the other order"),
]

GATED_VARIANTS = [
    variant("gated-lerp", "GatedFusion",
            (GATED_MIX, "h = torch.lerp(torch.tanh(self.proj2(x2)), torch.tanh(self.proj1(x1)), g)"),
            why="torch.lerp(h_2, h_1, g) = h_2 + g·(h_1 − h_2)"),
    variant("gated-difference-form", "GatedFusion",
            (GATED_MIX, "h2 = torch.tanh(self.proj2(x2))\n        h = h2 + g * (torch.tanh(self.proj1(x1)) - h2)"),
            why="h_2 + g·(h_1 − h_2)"),
]

# ----------------------------------------------------------------------------- ImageTextClassifier
PACK = """        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(tokens), lengths_cpu, batch_first=True,
                                                   enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)  # h_n is in the batch's original order
        return self.fusion(image_features, h_n[-1])"""

CLASSIFIER = [
    mutant("classifier-last-padded-step", "ImageTextClassifier",
           (PACK, "        output, _ = self.lstm(self.embedding(tokens))\n"
                  "        return self.fusion(image_features, output[:, -1])"),
           feedback=r"padding leaks into the text summary", why="output[:, -1] reads the state after the padding"),
    mutant("classifier-mean-over-padding", "ImageTextClassifier",
           (PACK, "        output, _ = self.lstm(self.embedding(tokens))\n"
                  "        return self.fusion(image_features, output.mean(dim=1))"),
           feedback=r"padding leaks into the text summary", why="a mean over every step, padding included"),
    mutant("classifier-cell-state", "ImageTextClassifier",
           ("_, (h_n, _) = self.lstm(packed)", "_, (_, h_n) = self.lstm(packed)"),
           feedback=r"final hidden state", why="takes the LSTM's cell state c_n instead of its hidden state h_n"),
    mutant("classifier-cnn-missing-relu", "ImageTextClassifier",
           ("nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),", "nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2),"),
           feedback=r"image features differ from the documented cnn", why="the image encoder loses a nonlinearity"),
    mutant("classifier-dropout-ignores-eval", "ImageTextClassifier",
           ("return self.fusion(image_features, h_n[-1])",
            "return self.fusion(nn.functional.dropout(image_features, 0.2), h_n[-1])"),
           feedback=r"eval mode", why="F.dropout without training=self.training: random logits in eval mode"),
    mutant("classifier-unknown-fusion-falls-back", "ImageTextClassifier",
           ("        if fusion not in FUSIONS:\n"
            "            raise ValueError(f\"fusion must be one of {sorted(FUSIONS)}, got {fusion!r}\")\n", ""),
           ("self.fusion = FUSIONS[fusion](", "self.fusion = FUSIONS.get(fusion, ConcatFusion)("),
           feedback=r"ImageTextClassifier\(fusion='sum'\): returned normally, expected ValueError",
           why="an unknown fusion name silently becomes concat fusion (the argument ignored)"),
]

CLASSIFIER_VARIANTS = [
    variant("classifier-gather-last-real-step", "ImageTextClassifier",
            (PACK, "        output, _ = self.lstm(self.embedding(tokens))\n"
                   "        last = (lengths_cpu - 1).to(tokens.device)\n"
                   "        return self.fusion(image_features, output[torch.arange(tokens.shape[0], device=tokens.device), last])"),
            why="the unpacked LSTM output gathered at each caption's last real step (padding comes after it)"),
]

MUTANTS = [*CONCAT, *LATE, *TENSOR, *LOW_RANK, *GATED, *CLASSIFIER]
VARIANTS = [*CONCAT_VARIANTS, *LATE_VARIANTS, *TENSOR_VARIANTS, *LOW_RANK_VARIANTS, *GATED_VARIANTS,
            *CLASSIFIER_VARIANTS]
