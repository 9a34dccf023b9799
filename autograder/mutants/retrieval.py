"""Mutants and valid variants of solutions/retrieval.py (see autograder/mutants/__init__.py)."""

from autograder.mutants import mutant, variant

NORMALISE = """    image_emb = F.normalize(image_emb, dim=-1)
    text_emb = F.normalize(text_emb, dim=-1)
"""
LOGITS = "    logits = logit_scale * image_emb @ text_emb.T\n"
LOSS = "    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2\n"
GRID_POOL = "            nn.AdaptiveMaxPool2d(3),  # a 3x3 grid keeps left/right/top/bottom apart\n"
GRID_HEAD = "        self.head = nn.Linear(2 * width * 9, embed_dim)\n"
IMAGE_FORWARD = "        return self.head(self.features(images).flatten(1))\n"
TEXT_MASK = "        mask = (tokens != self.pad_id).unsqueeze(-1).to(self.embedding.weight.dtype)  # (B, L, 1)\n"
TEXT_MEAN = "        mean = summed / mask.sum(dim=1).clamp(min=1.0)\n"
SCALE = "        return self.logit_scale.clamp(0.0, math.log(100.0)).exp()\n"
INIT_SCALE = "        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))\n"
PICK = "        picked = torch.randperm(n, generator=gen)[:b]\n"
OFFSET = "        offset = (torch.rand(b, generator=gen) * counts[picked]).long()\n"
STEP_LOSS = "        loss = clip_loss(image_emb, text_emb, scale)\n"
ZERO_GRAD = "        optimizer.zero_grad(set_to_none=True)\n"
TILE = "        tile = min(self.tile_items, -(-n // self.chunk) * self.chunk)  # a whole number of chunks\n"
BLOCK = "        block = max(1, self.block_elements // (tile + kk))  # (block, tile) scores + (block, kk) best\n"
WHOLE_DATABASE = "        tile = -(-n // self.chunk) * self.chunk\n"
TIE_ORDER = "            order = np.lexsort((top_ids, -top), axis=-1)  # by score, then by id\n"
SEARCH_LOOP = TILE + BLOCK + """        for lo in range(0, n_queries, block):
            top, top_ids = self._search_block(q[lo : lo + block], kk, tile)
""" + TIE_ORDER + """            scores[lo : lo + block, :kk] = np.take_along_axis(top, order, axis=1)
            ids[lo : lo + block, :kk] = np.take_along_axis(top_ids, order, axis=1)
"""
SIMPLE_SEARCH_LOOP = """        block = max(1, self.block_elements // n)
        for lo in range(0, n_queries, block):
            s = q[lo : lo + block] @ self._vectors.T  # (b, n)
            for r in range(s.shape[0]):  # every candidate that reaches the kk-th score, then (score, id)
                cand = np.flatnonzero(s[r] >= np.partition(s[r], n - kk)[n - kk])
                scores[lo + r, :kk], ids[lo + r, :kk] = _best_k(s[r, cand], self._ids[cand], kk)
"""
LOAD_INDEX = '            index = cls(int(data["dim"]), str(data["metric"]))\n'

MUTANTS = [
    # ------------------------------------------------------------------ clip_loss
    mutant("clip-one-sided", "clip_loss", (LOSS, "    return F.cross_entropy(logits, targets)\n"),
           feedback=r"differs from mean\(CE", why="only image->text: the text->image cross-entropy is missing"),
    mutant("clip-no-normalise", "clip_loss", (NORMALISE, ""),
           feedback=r"differs from mean\(CE", why="forgets to L2-normalise the embeddings"),
    mutant("clip-no-scale", "clip_loss", (LOGITS, "    logits = image_emb @ text_emb.T\n"),
           feedback=r"differs from mean\(CE", why="drops the temperature: logits are raw cosines"),
    mutant("clip-scale-exp-again", "clip_loss",
           (LOGITS, "    logits = torch.exp(torch.as_tensor(logit_scale)) * image_emb @ text_emb.T\n"),
           feedback=r"differs from mean\(CE", why="exponentiates the scale it was given already exponentiated"),
    mutant("clip-divides-by-scale", "clip_loss", (LOGITS, "    logits = image_emb @ text_emb.T / logit_scale\n"),
           feedback=r"differs from mean\(CE", why="divides by the scale, as if it were the temperature"),
    mutant("clip-targets-zero", "clip_loss",
           ("    targets = torch.arange(logits.shape[0], device=logits.device)\n",
            "    targets = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)\n"),
           feedback=r"differs from mean\(CE", why="labels are not the diagonal (class 0 for every row)"),
    mutant("clip-sum-not-mean", "clip_loss",
           (LOSS, "    return F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)\n"),
           feedback=r"differs from mean\(CE", why="adds the two directions instead of averaging them"),
    mutant("clip-normalise-wrong-axis", "clip_loss",
           (NORMALISE, "    image_emb = F.normalize(image_emb, dim=0)\n    text_emb = F.normalize(text_emb, dim=0)\n"),
           feedback=r"differs from mean\(CE", why="normalises each dimension over the batch instead of each row"),
    # ------------------------------------------------------------------ ImageEncoder
    mutant("image-global-average-pool", "ImageEncoder",
           (GRID_POOL, "            nn.AdaptiveAvgPool2d(1),\n"), (GRID_HEAD, "        self.head = nn.Linear(2 * width, embed_dim)\n"),
           feedback=r"object moved .* same vector", why="a classification CNN's global average pool: where is lost"),
    mutant("image-global-max-in-forward", "ImageEncoder",
           (GRID_POOL, ""), (GRID_HEAD, "        self.head = nn.Linear(2 * width, embed_dim)\n"),
           (IMAGE_FORWARD, "        return self.head(self.features(images).amax(dim=(2, 3)))\n"),
           feedback=r"object moved .* same vector", why="max over the whole feature map in forward"),
    mutant("image-pools-height-away", "ImageEncoder",
           (GRID_POOL, "            nn.AdaptiveMaxPool2d((1, 3)),  # left / middle / right\n"),
           (GRID_HEAD, "        self.head = nn.Linear(2 * width * 3, embed_dim)\n"),
           feedback=r"object moved from the top to the bottom", why="keeps left/right, pools top/bottom away"),
    mutant("image-batch-standardised", "ImageEncoder",
           (IMAGE_FORWARD, "        images = (images - images.mean()) / (images.std() + 1e-6)\n" + IMAGE_FORWARD),
           feedback=r"alone vs inside a batch", why="standardises the input with the batch's statistics"),
    mutant("image-embed-dim-ignored", "ImageEncoder", (GRID_HEAD, "        self.head = nn.Linear(2 * width * 9, 64)\n"),
           feedback=r"ImageEncoder\(embed_dim=16\).*shape", why="a hard-coded output size instead of embed_dim"),
    # ------------------------------------------------------------------ TextEncoder
    mutant("text-mask-inverted", "TextEncoder",
           (TEXT_MASK, "        mask = (tokens == self.pad_id).unsqueeze(-1).to(self.embedding.weight.dtype)  # (B, L, 1)\n"),
           feedback=r"changing one word", why="keeps the padding and drops the words"),
    mutant("text-pad-id-hard-coded", "TextEncoder",
           (TEXT_MASK, "        mask = (tokens != 0).unsqueeze(-1).to(self.embedding.weight.dtype)  # (B, L, 1)\n"),
           feedback=r"pad_id", why="masks token 0 whatever pad_id the encoder was given"),
    mutant("text-plain-mean", "TextEncoder",
           (TEXT_MEAN, "        mean = self.embedding(tokens).mean(dim=1)\n"),
           feedback=r"padded .* must encode the same", why="a plain mean over L: padding dilutes the caption"),
    mutant("text-last-token", "TextEncoder",
           (TEXT_MEAN, "        mean = self.embedding(tokens)[:, -1]\n"),
           feedback=r"changing one word|padded .* must encode the same", why="the last position, which is padding"),
    mutant("text-divides-by-batch-count", "TextEncoder",
           (TEXT_MEAN, "        mean = summed / mask.sum().clamp(min=1.0)\n"),
           feedback=r"padded|alone vs inside a batch", why="divides by the words of the whole batch"),
    mutant("text-empty-caption-nan", "TextEncoder", (TEXT_MEAN, "        mean = summed / mask.sum(dim=1)\n"),
           feedback=r"no word .* do not divide by zero", why="an all-padding caption divides by zero"),
    # ------------------------------------------------------------------ DualEncoder
    mutant("dual-scale-not-clamped", "DualEncoder", (SCALE, "        return self.logit_scale.exp()\n"),
           feedback=r"clamped", why="forgets CLIP's clamp of the temperature"),
    mutant("dual-scale-not-exp", "DualEncoder", (SCALE, "        return self.logit_scale.clamp(0.0, math.log(100.0))\n"),
           feedback=r"scale\(\) at initialisation", why="returns the log of the scale"),
    mutant("dual-clamp-to-100", "DualEncoder", (SCALE, "        return self.logit_scale.clamp(0.0, 100.0).exp()\n"),
           feedback=r"clamped to ln 100", why="clamps the log to 100 instead of ln 100"),
    mutant("dual-init-not-log", "DualEncoder",
           (INIT_SCALE, "        self.logit_scale = nn.Parameter(torch.tensor(1 / 0.07))\n"),
           feedback=r"logit_scale at initialisation", why="stores 1/0.07 itself, not its log"),
    mutant("dual-scale-detached", "DualEncoder",
           (SCALE, "        return self.logit_scale.detach().clamp(0.0, math.log(100.0)).exp()\n"),
           feedback=r"no gradient reaches logit_scale", why="the temperature gets no gradient"),
    mutant("dual-scale-not-a-parameter", "DualEncoder",
           (INIT_SCALE, "        self.logit_scale = torch.tensor(math.log(1 / 0.07))\n"),
           feedback=r"no gradient reaches logit_scale", why="a plain tensor, not an nn.Parameter: never trained"),
    mutant("dual-image-not-normalised", "DualEncoder",
           ("        return F.normalize(self.image_encoder(images), dim=-1)\n", "        return self.image_encoder(images)\n"),
           feedback=r"L2 norms", why="encode_image returns raw vectors"),
    mutant("dual-text-normalised-over-batch", "DualEncoder",
           ("        return F.normalize(self.text_encoder(tokens), dim=-1)\n",
            "        return F.normalize(self.text_encoder(tokens), dim=0)\n"),
           feedback=r"L2 norms", why="normalises over the batch axis"),
    # ------------------------------------------------------------------ train_dual_encoder
    mutant("train-with-replacement", "train_dual_encoder",
           (PICK, "        picked = torch.randint(n, (b,), generator=gen)\n"),
           feedback=r"DIFFERENT images", why="samples images with replacement: duplicates are false negatives"),
    mutant("train-no-zero-grad", "train_dual_encoder", (ZERO_GRAD, ""),
           feedback=r"zero the gradients", why="gradients pile up over the steps"),
    mutant("train-zero-grad-after-backward", "train_dual_encoder",
           (ZERO_GRAD + "        loss.backward()\n", "        loss.backward()\n" + ZERO_GRAD),
           feedback=r"zero the gradients", why="zeroes the gradients between backward and step"),
    mutant("train-log-scale-to-loss", "train_dual_encoder",
           (STEP_LOSS, "        loss = clip_loss(image_emb, text_emb, model.logit_scale)\n"),
           feedback=r"CLIP's symmetric loss", why="passes the log of the scale to the loss"),
    mutant("train-one-sided-loss", "train_dual_encoder",
           (STEP_LOSS, "        loss = F.cross_entropy(scale * image_emb @ text_emb.T, torch.arange(b, device=image_emb.device))\n"),
           feedback=r"CLIP's symmetric loss", why="writes the loss inline, image->text only"),
    mutant("train-left-in-train-mode", "train_dual_encoder", ("    model.eval()\n    return losses\n", "    return losses\n"),
           feedback=r"eval mode", why="model.eval() forgotten at the end"),
    mutant("train-first-caption-only", "train_dual_encoder",
           (OFFSET, "        offset = torch.zeros(b, dtype=torch.long)\n"),
           feedback=r"random caption", why="always the first caption of each image"),
    mutant("train-caption-index-is-image-index", "train_dual_encoder",
           ("        captions = order[starts[picked] + offset]\n", "        captions = picked\n"),
           feedback=r"not a caption of its image", why="caption_image ignored: caption i taken for image i"),
    mutant("train-global-generator", "train_dual_encoder",
           (PICK, "        picked = torch.randperm(n)[:b]\n"),
           feedback=r"torch.Generator", why="the generator forgotten in one draw: torch's global one is used"),
    mutant("train-temperature-not-optimised", "train_dual_encoder",
           ("    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)\n",
            "    optimizer = torch.optim.AdamW([*model.image_encoder.parameters(), *model.text_encoder.parameters()], lr=lr,"
            " weight_decay=1e-4)\n"),
           feedback=r"does not update logit_scale", why="only the towers go to the optimizer"),
    # ------------------------------------------------------------------ EmbeddingIndex
    mutant("index-ties-by-higher-id", "EmbeddingIndex",
           (TIE_ORDER, "            order = np.lexsort((-top_ids, -top), axis=-1)  # by score, then by id\n"),
           feedback=r"equal scores by lower id", why="ties ordered by higher id"),
    mutant("index-full-score-matrix", "EmbeddingIndex", (TILE, WHOLE_DATABASE), (BLOCK, "        block = n_queries\n"),
           feedback=r"extra memory at peak", why="scores every query against every item at once"),
    mutant("index-block-from-dim", "EmbeddingIndex", (TILE, WHOLE_DATABASE),
           (BLOCK, "        block = max(1, self.block_elements // self.dim)\n"),
           feedback=r"extra memory at peak", why="sizes the block by d instead of N: one block of all queries"),
    mutant("index-queries-not-normalised", "EmbeddingIndex",
           ('        q = self._prepare(queries, "queries")\n', '        q = _as_float_matrix(queries, "queries", self.dim)\n'),
           feedback=r"scores differ from a brute-force", why="cosine index: the queries are not normalised"),
    mutant("index-pads-with-zero-ids", "EmbeddingIndex",
           ("        ids = np.full((n_queries, k), -1, dtype=np.int64)\n", "        ids = np.zeros((n_queries, k), dtype=np.int64)\n"),
           feedback=r"over 3 items", why="missing places get id 0 instead of -1"),
    mutant("index-default-ids-from-count", "EmbeddingIndex",
           ("            start = int(self._ids.max()) + 1 if len(self) else 0\n", "            start = len(self)\n"),
           feedback=r"default ids", why="default ids start at the count, colliding with given ids"),
    mutant("index-load-drops-metric", "EmbeddingIndex", (LOAD_INDEX, '            index = cls(int(data["dim"]))\n'),
           feedback=r"after save and load", why="load forgets the saved metric (always cosine)"),
    mutant("index-zero-vector-accepted", "EmbeddingIndex",
           ("            norms = np.linalg.norm(t, axis=1, keepdims=True)\n            if (norms == 0).any():\n"
            "                raise ValueError(f\"{name} holds a zero vector, which has no cosine similarity\")\n"
            "            t = t / norms\n", "            t = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)\n"),
           feedback=r"zero vector.*expected ValueError", why="divides by max(norm, eps), as F.normalize does: a zero vector stays"),
    mutant("index-duplicates-only-within-batch", "EmbeddingIndex",
           ("            if np.unique(new_ids).size != new_ids.size or np.isin(new_ids, self._ids).any():\n",
            "            if np.unique(new_ids).size != new_ids.size:\n"),
           feedback=r"repeated id.*expected ValueError", why="checks uniqueness only inside one add()"),
    # ------------------------------------------------------------------ RetrievalSystem
    mutant("system-k-ignored", "RetrievalSystem",
           ("        return self.image_index.search(self.encode_texts(query), k)\n",
            "        return self.image_index.search(self.encode_texts(query), 10)\n"),
           feedback=r"search_text.*shape", why="search_text always returns 10 results"),
    mutant("system-string-split-into-characters", "RetrievalSystem",
           ("        texts = [texts] if isinstance(texts, str) else list(texts)\n", "        texts = list(texts)\n"),
           feedback=r"one string.*shape", why="one query string is taken as a list of characters"),
    mutant("system-search-image-wrong-gallery", "RetrievalSystem",
           ("        return self.caption_index.search(self.encode_images(image), k)\n",
            "        return self.image_index.search(self.encode_images(image), k)\n"),
           feedback=r"search_image", why="image queries searched against the image gallery"),
    mutant("system-raw-image-vectors", "RetrievalSystem",
           ("out.append(self.model.encode_image(images[lo : lo + self.batch_size].to(self.device)).float().cpu())",
            "out.append(self.model.image_encoder(images[lo : lo + self.batch_size].to(self.device)).float().cpu())"),
           feedback=r"encode_images.*unit vectors", why="encodes with the raw tower: similarity without normalisation"),
    mutant("system-drops-last-batch", "RetrievalSystem",
           ("            for lo in range(0, images.shape[0], self.batch_size):\n",
            "            for lo in range(0, images.shape[0] - self.batch_size + 1, self.batch_size):\n"),
           feedback=r"encode_images.*shape", why="the last, short batch is dropped"),
    mutant("system-new-index-each-call", "RetrievalSystem",
           ("        if self.image_index is None:\n            self.image_index = EmbeddingIndex(vectors.shape[1], \"cosine\")\n",
            "        self.image_index = EmbeddingIndex(vectors.shape[1], \"cosine\")\n"),
           feedback=r"search_text.*not \d+ distinct stored ids|search_text.*scores differ", why="index_images replaces the gallery"),
    mutant("system-i2t-not-transposed", "RetrievalSystem",
           ('        for name, s, r in (("t2i", scores, relevant), ("i2t", scores.T, relevant.T)):\n',
            '        for name, s, r in (("t2i", scores, relevant), ("i2t", scores, relevant)):\n'),
           feedback=r"evaluate\(\)\['i2t", why="image->text computed on the text->image matrix"),
]

VARIANTS = [
    variant("clip-soft-eye-targets", "clip_loss",
            (LOSS, "    eye = torch.eye(logits.shape[0], dtype=logits.dtype, device=logits.device)\n"
                   "    return (F.cross_entropy(logits, eye) + F.cross_entropy(logits.T, eye)) / 2\n"),
            why="soft one-hot targets (torch.eye) instead of class indices"),
    variant("clip-log-softmax-diagonal", "clip_loss",
            (LOSS, "    return -(logits.log_softmax(dim=1).diagonal().mean() + logits.log_softmax(dim=0).diagonal().mean()) / 2\n"),
            why="log_softmax along each axis, diagonal"),
    variant("clip-manual-normalise", "clip_loss",
            (NORMALISE, "    image_emb = image_emb / image_emb.norm(dim=1, keepdim=True)\n"
                        "    text_emb = text_emb / text_emb.norm(dim=1, keepdim=True)\n"),
            why="divides by the norms by hand"),
    variant("image-average-grid", "ImageEncoder", (GRID_POOL, "            nn.AdaptiveAvgPool2d(3),\n"),
            why="an average-pooled 3x3 grid"),
    variant("image-4x4-grid-batchnorm", "ImageEncoder",
            ("            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),\n",
             "            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),\n"),
            (GRID_POOL, "            nn.AdaptiveMaxPool2d(4),\n"), (GRID_HEAD, "        self.head = nn.Linear(2 * width * 16, embed_dim)\n"),
            why="a 4x4 grid and batch norm (eval mode uses running statistics)"),
    variant("text-explicit-mask-loop", "TextEncoder",
            (TEXT_MEAN, "        mean = torch.stack([self.embedding(row[row != self.pad_id]).mean(0) if (row != self.pad_id).any()\n"
                        "                            else self.embedding.weight.new_zeros(self.embedding.embedding_dim) for row in tokens])\n"),
            why="a loop over captions, taking only the real words"),
    variant("text-masked-fill", "TextEncoder",
            ("        summed = (self.embedding(tokens) * mask).sum(dim=1)\n",
             "        summed = self.embedding(tokens).masked_fill(mask == 0, 0.0).sum(dim=1)\n"),
            why="masked_fill instead of a product"),
    variant("dual-torch-clamp-float64", "DualEncoder",
            (SCALE, "        return torch.exp(torch.clamp(self.logit_scale, min=0.0, max=math.log(100.0)))\n"),
            (INIT_SCALE, "        self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))\n"),
            why="torch.clamp/torch.exp, open_clip's ones([]) * log initialisation"),
    variant("train-indices-via-multinomial", "train_dual_encoder",
            (PICK, "        picked = torch.multinomial(torch.ones(n), b, replacement=False, generator=gen)\n"),
            why="another way to draw distinct images"),
    variant("train-zero-grad-first-and-clip", "train_dual_encoder",
            (ZERO_GRAD + "        loss.backward()\n",
             "        loss.backward()\n        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"),
            ("        image_emb, text_emb, scale = model(", "        optimizer.zero_grad()\n        image_emb, text_emb, scale = model("),
            why="zero_grad at the top of the step, plus gradient clipping"),
    variant("index-float64-scores", "EmbeddingIndex",
            ("                np.matmul(self._vectors[t0 + u : t0 + u + w], q_t, out=s[u : u + w])\n",
             "                s[u : u + w] = self._vectors[t0 + u : t0 + u + w].astype(np.float64) @ q_t.astype(np.float64)\n"),
            why="scores computed in float64, stored as float32"),
    variant("index-load-through-add", "EmbeddingIndex",
            ('            index._vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)\n'
             '            index._ids = np.ascontiguousarray(data["ids"], dtype=np.int64)\n',
             '            index.add(data["vectors"], data["ids"])\n'),
            why="load re-adds the saved vectors"),
    variant("index-smaller-blocks", "EmbeddingIndex", (BLOCK, "        block = max(1, 2**18 // (tile + kk))\n"),
            why="smaller blocks"),
    variant("index-simple-blocks", "EmbeddingIndex", (SEARCH_LOOP, SIMPLE_SEARCH_LOOP),
            why="the teaching version: each block of queries against all N items, every row's top k sorted by (score, id)"),
    variant("system-ip-index", "RetrievalSystem",
            ('            self.image_index = EmbeddingIndex(vectors.shape[1], "cosine")\n',
             '            self.image_index = EmbeddingIndex(vectors.shape[1], "ip")  # unit vectors: ip is cosine\n'),
            why="inner product on unit vectors"),
    variant("system-evaluate-float32", "RetrievalSystem",
            ("        scores = text_emb.astype(np.float64) @ image_emb.astype(np.float64).T  # (M, N)\n",
             "        scores = text_emb @ image_emb.T  # (M, N)\n"),
            why="similarities in float32"),
]
