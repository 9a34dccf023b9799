"""Mutants and valid variants of solutions/sentiment.py (see autograder/mutants/__init__.py)."""

from autograder.mutants import mutant, variant

PE = "PositionalEncoding"
BLOCK = "CrossModalBlock"
MODEL = "MultimodalSentimentTransformer"
TRAIN = "train_sentiment_model"
EVALUATE = "evaluate_sentiment_model"

_FREQUENCIES = "torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model)"
_ADD = "        return x + self.pe[:, : x.shape[1]].to(x.dtype)"
_ATTEND = ("        attended, _ = self.attention(query, key_value, key_value, key_padding_mask=source_padding_mask, "
           "need_weights=False)")
_RESIDUAL = "        h = target + self.attention_dropout(attended)"
_POOL = "            pooled.append(torch.where(real.bool(), h, torch.zeros_like(h)).sum(dim=1) / real.sum(dim=1))"
_CROSS = "                    h = block(h, sequences[source], masks[source])"
_LOSS = '            loss = F.l1_loss(prediction, batch["labels"])'

MUTANTS = [
    # ------------------------------------------------------------------ PositionalEncoding
    mutant("pe-sin-cos-swapped", PE,
           ("table[:, 0::2] = torch.sin(", "table[:, 0::2] = torch.cos("),
           ("table[:, 1::2] = torch.cos(", "table[:, 1::2] = torch.sin("),
           feedback=r"sin and cos swapped", why="cos in the even columns, sin in the odd ones"),
    mutant("pe-exponent-i-not-2i", PE,
           (_FREQUENCIES, "torch.arange(d_model // 2, dtype=torch.float64) * (-math.log(10000.0) / d_model)"),
           feedback=r"frequencies differ", why="10000^(i/d) instead of 10000^(2i/d): the wrong frequency base"),
    mutant("pe-result-not-assigned", PE,
           (_ADD, "        x.add(self.pe[:, : x.shape[1]].to(x.dtype))\n        return x"),
           feedback=r"unchanged: nothing was added", why="x.add(...) is not in place: the table is never added"),
    mutant("pe-added-twice", PE,
           (_ADD, "        x = x + self.pe[:, : x.shape[1]].to(x.dtype)\n"
                  "        return x + self.pe[:, : x.shape[1]].to(x.dtype)"),
           feedback=r"added the table twice", why="adds the positions, then returns x + PE again"),
    mutant("pe-scaled-by-sqrt-d", PE,
           (_ADD, "        return x * math.sqrt(self.d_model) + self.pe[:, : x.shape[1]].to(x.dtype)"),
           feedback=r"scaled x by sqrt\(d_model\)", why="Vaswani's/MulT's embedding scale, which is not this module's job"),
    mutant("pe-indexed-by-batch", PE,
           ('self.register_buffer("pe", table.float()[None], persistent=False)',
            'self.register_buffer("pe", table.float()[:, None], persistent=False)'),
           (_ADD, "        return x + self.pe[: x.shape[0]].to(x.dtype)"),
           feedback=r"different table to each batch row",
           why="the PyTorch tutorial's seq-first (max_len, 1, d) table indexed by x.size(0) on a batch-first input"),
    # ------------------------------------------------------------------ CrossModalBlock
    mutant("block-queries-from-source", BLOCK,
           (_ATTEND, _ATTEND.replace("(query, key_value, key_value,", "(key_value, query, query,")
                            .replace("key_padding_mask=source_padding_mask", "key_padding_mask=None")),
           feedback=r"queries must come from the target",
           why="the source asks the questions: query and key/value roles swapped"),
    mutant("block-mask-inverted", BLOCK,
           (_ATTEND, _ATTEND.replace("key_padding_mask=source_padding_mask",
                                     "key_padding_mask=None if source_padding_mask is None else ~source_padding_mask")),
           feedback=r"inverted mask", why="reads True as 'real step'"),
    mutant("block-mask-ignored", BLOCK,
           (_ATTEND, _ATTEND.replace("key_padding_mask=source_padding_mask", "key_padding_mask=None")),
           feedback=r"padding mask was ignored", why="validates the mask, then never passes it to the attention"),
    mutant("block-no-attention-residual", BLOCK,
           (_RESIDUAL, "        h = self.attention_dropout(attended)"),
           feedback=r"residual connection is missing", why="h = MHA(...) without adding the target"),
    mutant("block-residual-from-normalised-target", BLOCK,
           (_RESIDUAL, "        h = query + self.attention_dropout(attended)"),
           feedback=r"raw target, not LN_t", why="adds LN_t(target) back instead of the raw target"),
    mutant("block-post-layernorm", BLOCK,
           ("        query = self.norm_target(target)\n        key_value = self.norm_source(source)\n",
            "        query, key_value = target, source\n"),
           (_RESIDUAL, "        h = self.norm_target(target + self.attention_dropout(attended))"),
           ("        return h + self.output_dropout(self.feed_forward(self.norm_feed_forward(h)))",
            "        return self.norm_feed_forward(h + self.output_dropout(self.feed_forward(h)))"),
           feedback=r"LayerNorm in the wrong place", why="post-LN (Vaswani's) where the docstring says pre-LN as MulT"),
    mutant("block-shared-layernorm", BLOCK,
           ("        key_value = self.norm_source(source)\n", "        key_value = self.norm_target(source)\n"),
           feedback=r"norm_source \(LN_s\), not norm_target", why="MulT's one shared LayerNorm, against the docstring"),
    # ------------------------------------------------------------------ MultimodalSentimentTransformer
    mutant("model-mean-over-padding", MODEL,
           (_POOL, "            pooled.append(h.mean(dim=1))"),
           feedback=r"padding steps", why=".mean(dim=1) averages the padded steps too"),
    mutant("model-last-step-is-padding", MODEL,
           (_POOL, "            pooled.append(h[:, -1])"),
           feedback=r"padding steps", why="MulT's h[-1] on right-padded batches: a padded step for shorter sequences"),
    mutant("model-self-attention-without-mask", MODEL,
           ("            h = self.self_attention[target](h, src_key_padding_mask=masks[target])",
            "            h = self.self_attention[target](h)"),
           feedback=r"padding steps", why="the target's own padding mask is not passed to its self-attention"),
    mutant("model-cross-blocks-without-source-mask", MODEL,
           (_CROSS, "                    h = block(h, sequences[source])"),
           feedback=r"padding steps|source's padding mask", why="the source's padding mask is not passed on"),
    mutant("model-target-attends-to-itself", MODEL,
           (_CROSS, "                    h = block(h, h, masks[target])"),
           feedback=r"every ordered pair", why="self-attention in the cross-modal blocks: the source is ignored there"),
    mutant("model-unbounded-score", MODEL,
           ("        return SCORE_RANGE * torch.tanh(self.head(torch.cat(pooled, dim=-1)).squeeze(-1))",
            "        return self.head(torch.cat(pooled, dim=-1)).squeeze(-1)"),
           feedback=r"leave \[-3, 3\]", why="a plain regression head: nothing keeps the score in [-3, 3]"),
    # ------------------------------------------------------------------ train_sentiment_model
    mutant("train-mse-loss", TRAIN,
           (_LOSS, '            loss = F.mse_loss(prediction, batch["labels"])'),
           feedback=r"MSE loss.*L1", why="the regression reflex: MSE where the docstring (and MulT, MMSA) say L1"),
    mutant("train-smooth-l1-loss", TRAIN,
           (_LOSS, '            loss = F.smooth_l1_loss(prediction, batch["labels"])'),
           feedback=r"smooth-L1", why="Huber instead of L1"),
    mutant("train-no-zero-grad", TRAIN,
           ("            optimizer.zero_grad(set_to_none=True)\n", ""),
           feedback=r"zero_grad", why="gradients accumulate over every step"),
    mutant("train-left-in-train-mode", TRAIN,
           ("    model.eval()\n    return history", "    return history"),
           feedback=r"left the model in training mode", why="forgets model.eval() after the last epoch"),
    mutant("train-no-model-train", TRAIN,
           ("        model.train()\n        total, count = 0.0, 0", "        total, count = 0.0, 0"),
           feedback=r"eval mode during training", why="never switches a model handed over in eval mode to training"),
    mutant("train-clipping-ignored", TRAIN,
           ("            if max_grad_norm is not None:\n                nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)\n",
            ""),
           feedback=r"without gradient clipping", why="the max_grad_norm argument silently ignored"),
    mutant("train-weight-decay-ignored", TRAIN,
           ("lr=float(lr), weight_decay=float(weight_decay))", "lr=float(lr))"),
           feedback=r"without weight_decay", why="the weight_decay argument silently ignored"),
    # ------------------------------------------------------------------ evaluate_sentiment_model
    mutant("evaluate-no-eval-mode", EVALUATE,
           ("    was_training = model.training\n    model.eval()\n", "    was_training = model.training\n"),
           feedback=r"dropout must be off", why="forgets model.eval(): dropout stays on while scoring"),
    mutant("evaluate-always-back-to-train", EVALUATE,
           ("    model.train(was_training)\n", "    model.train()\n"),
           feedback=r"eval mode in training mode", why="model.train() instead of restoring the mode it had"),
    mutant("evaluate-shuffled", EVALUATE,
           ("batch_size=batch_size, shuffle=False, collate_fn=collate_sentiment)",
            "batch_size=batch_size, shuffle=True, collate_fn=collate_sentiment)"),
           feedback=r"not in the order of data", why="copies the training loader: predictions no longer in data order"),
    mutant("evaluate-metrics-arguments-swapped", EVALUATE,
           ("    metrics = sentiment_metrics(pred, truth)", "    metrics = sentiment_metrics(truth, pred)"),
           feedback=r"arguments are swapped", why="sentiment_metrics(labels, predictions): sklearn's argument order"),
]

VARIANTS = [
    variant("pe-pow-table", PE,
            ("torch.exp(" + _FREQUENCIES + ")",
             "1.0 / torch.pow(10000.0, torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)"),
            why="the textbook 1 / 10000^(2i/d) instead of exp(-2i ln(10000) / d)"),
    variant("pe-float32-stacked", PE,
            ("        position = torch.arange(max_len, dtype=torch.float64)[:, None]\n"
             "        inverse_frequency = torch.exp(" + _FREQUENCIES + ")\n"
             "        table = torch.zeros(max_len, d_model, dtype=torch.float64)\n"
             "        table[:, 0::2] = torch.sin(position * inverse_frequency)\n"
             "        table[:, 1::2] = torch.cos(position * inverse_frequency)\n",
             "        position = torch.arange(max_len, dtype=torch.float32)[:, None]\n"
             "        angle = position * torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))\n"
             "        table = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).flatten(1)  # interleaved\n"),
            why="float32 throughout, interleaving sin/cos with stack + flatten"),
    variant("pe-persistent-buffer", PE,
            ('self.register_buffer("pe", table.float()[None], persistent=False)',
             'self.register_buffer("pe", table.float()[None])'),
            why="a buffer saved in the state_dict (the docstring's persistent=False is an e.g.)"),
    variant("block-own-residual-order", BLOCK,
            ("        return h + self.output_dropout(self.feed_forward(self.norm_feed_forward(h)))",
             "        update = self.feed_forward(self.norm_feed_forward(h))\n"
             "        return self.output_dropout(update) + h"),
            why="the same pre-LN block written in another order"),
    variant("pool-last-real-step", MODEL,
            (_POOL,
             "            last = h.shape[1] - 1 - (~masks[target]).flip(1).int().argmax(dim=1)  # last real step per row\n"
             "            pooled.append(h[torch.arange(h.shape[0], device=h.device), last])"),
            why="MulT's choice: the hidden state at each sequence's last real step (the docstring allows either)"),
    variant("pool-in-float64", MODEL,
            (_POOL, "            summed = torch.where(real.bool(), h, torch.zeros_like(h)).double().sum(dim=1)\n"
                    "            pooled.append((summed / real.double().sum(dim=1)).to(h.dtype))"),
            why="the masked mean accumulated in float64"),
    variant("train-zero-grad-after-step", TRAIN,
            ("            optimizer.zero_grad(set_to_none=True)\n            loss.backward()",
             "            loss.backward()"),
            ("            optimizer.step()\n", "            optimizer.step()\n            optimizer.zero_grad()\n"),
            why="another valid update order: zero the gradients after the step (they start at None)"),
    variant("train-handwritten-l1", TRAIN,
            (_LOSS, '            loss = (prediction - batch["labels"]).abs().mean()'),
            why="L1 written out"),
    variant("evaluate-inference-mode", EVALUATE,
            ("    with torch.no_grad():\n        for batch in loader:",
             "    with torch.inference_mode():\n        for batch in loader:"),
            why="inference_mode instead of no_grad"),
]
