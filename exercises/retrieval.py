# Exercise generated from solutions/retrieval.py by `python -m autograder generate`: do not regenerate over
# your work. Replace each `raise NotImplementedError(...)` with your code, then run `python -m autograder`.
"""An image-text retrieval system: dual encoder, CLIP loss, a vector index, search and evaluation.

The pieces, in the order a production system uses them:

1. `ImageEncoder` and `TextEncoder` map each modality on its own to a vector; `DualEncoder`
   holds both plus CLIP's learnable temperature and returns unit vectors.
2. `clip_loss` (InfoNCE in both directions) trains them so matching pairs score highest.
3. `train_dual_encoder` runs the training loop on (image, caption) pairs.
4. `EmbeddingIndex` stores gallery vectors and answers exact top-k queries, saved without pickle.
5. `RetrievalSystem` ties it together: index images and captions, search by text or by image,
   and evaluate Recall@K and median rank with the metrics exercise.

Data: `mmprep.data.shapes` (coloured shapes with captions) and `mmprep.text.WordTokenizer`.
Tensors live on the `device` you pass ("cpu", "cuda"); nothing here assumes a GPU.
Keep the encoders small: the graded training check trains your model on one CPU core in seconds.
"""

from __future__ import annotations

import math  # noqa: F401 - the exercise stubs leave some imports for you to use
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401
from torch import nn

from .metrics import median_rank, recall_at_k  # noqa: F401

METRICS = ("cosine", "ip")


# ----------------------------------------------------------------------------- given helpers
def _as_float_matrix(x, name: str, dim: int | None = None) -> np.ndarray:
    """`x` (n, d) or (d,) as a float32 NumPy array; ValueError naming `name` when it does not fit."""
    t = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2:
        raise ValueError(f"{name} must be (n, d) or (d,), got shape {tuple(t.shape)}")
    if dim is not None and t.shape[1] != dim:
        raise ValueError(f"{name} must have dimension {dim}, got {t.shape[1]}")
    if not np.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")
    return t


def _as_images(images, device) -> torch.Tensor:
    """(B, 3, H, W) or (3, H, W) images (NumPy or torch) as a float32 tensor on `device`."""
    t = torch.as_tensor(images, dtype=torch.float32)
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(t.shape)}")
    return t.to(device)


# ----------------------------------------------------------------------------- loss
def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale) -> torch.Tensor:
    """CLIP's symmetric contrastive loss (InfoNCE both ways), as open_clip's ClipLoss in one process.

    image_emb:   (N, d) image embeddings, row i pairs with text row i (need not be unit length).
    text_emb:    (N, d) text embeddings.
    logit_scale: the already exponentiated scale 1/temperature (a float or a 0-d tensor).
    Steps: L2-normalise both; logits = scale · I · Tᵀ (N, N); the target of row i is column i;
    loss = (cross_entropy(logits, targets) + cross_entropy(logits.T, targets)) / 2.
    Returns a 0-d tensor that backpropagates into both inputs. When every embedding is equal
    every row is uniform and the loss is ln N. Shapes that differ, N = 0 -> ValueError.
    """
    raise NotImplementedError("retrieval: task clip_loss — CLIP's symmetric contrastive loss (InfoNCE both ways), as open_clip's ClipLoss in one process")


# ----------------------------------------------------------------------------- encoders
class ImageEncoder(nn.Module):
    """A small CNN: (B, 3, H, W) images in [0, 1] -> (B, embed_dim) vectors (not normalised).

    Any image size from 24x24 up.

    Keep where things are: retrieval asks "a red circle on the left", so do not average the
    feature map away completely (pool to a small grid, e.g. 3x3, then flatten and project): the same
    object moved from the left to the right must give another vector, even before training.
    An image's vector does not depend on the other images of the batch (in eval mode).
    A torchvision resnet18(weights=None) with its global pooling replaced by a grid also works, but
    trains far slower on a CPU.
    """

    def __init__(self, embed_dim: int, width: int = 32):
        super().__init__()
        raise NotImplementedError('retrieval: task ImageEncoder — A small CNN: (B, 3, H, W) images in [0, 1] -> (B, embed_dim) vectors (not normalised)')

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, H, W) -> (B, embed_dim)."""
        raise NotImplementedError('retrieval: task ImageEncoder — images: (B, 3, H, W) -> (B, embed_dim)')


class TextEncoder(nn.Module):
    """Token ids -> (B, embed_dim) vectors (not normalised): embeddings, masked mean, small MLP.

    tokens: (B, L) int64 from `mmprep.text.WordTokenizer`, padded with `pad_id` (0 by default; honour
    the `pad_id` given). Padding must not change the result: encoding a caption padded to L=8 or to
    L=30 gives the same vector; every real word counts. A caption with no word (all padding) must
    not divide by zero.
    A masked mean is a bag of words: it cannot tell "a red circle and a blue square" from
    "a blue circle and a red square" (the lesson measures this); a small Transformer can.
    """

    def __init__(self, vocab_size: int, embed_dim: int, width: int = 64, pad_id: int = 0):
        super().__init__()
        raise NotImplementedError('retrieval: task TextEncoder — Token ids -> (B, embed_dim) vectors (not normalised): embeddings, masked mean, small MLP')

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (B, L) int64 -> (B, embed_dim)."""
        raise NotImplementedError('retrieval: task TextEncoder — tokens: (B, L) int64 -> (B, embed_dim)')


class DualEncoder(nn.Module):
    """Two towers and a learnable temperature, as CLIP.

    self.image_encoder, self.text_encoder: the two towers given.
    self.logit_scale: nn.Parameter holding the LOG of the scale, initialised to ln(1/0.07);
    `scale()` returns exp(logit_scale clamped to [0, ln 100]), so the scale stays in [1, 100].
    encode_image / encode_text return unit vectors (L2 norm 1 per row).
    forward(images, tokens) -> (image_emb (B, d), text_emb (B, d), scale 0-d tensor).
    """

    def __init__(self, image_encoder: nn.Module, text_encoder: nn.Module):
        super().__init__()
        raise NotImplementedError('retrieval: task DualEncoder — Two towers and a learnable temperature, as CLIP')

    def scale(self) -> torch.Tensor:
        """exp(logit_scale clamped to [0, ln 100]): a 0-d tensor in [1, 100]."""
        raise NotImplementedError('retrieval: task DualEncoder — exp(logit_scale clamped to [0, ln 100]): a 0-d tensor in [1, 100]')

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, H, W) -> (B, d) unit vectors."""
        raise NotImplementedError('retrieval: task DualEncoder — images: (B, 3, H, W) -> (B, d) unit vectors')

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (B, L) int64 -> (B, d) unit vectors."""
        raise NotImplementedError('retrieval: task DualEncoder — tokens: (B, L) int64 -> (B, d) unit vectors')

    def forward(self, images: torch.Tensor, tokens: torch.Tensor):
        """-> (image_emb (B, d), text_emb (B, d), scale)."""
        raise NotImplementedError('retrieval: task DualEncoder — -> (image_emb (B, d), text_emb (B, d), scale)')


# ----------------------------------------------------------------------------- training
def train_dual_encoder(model: DualEncoder, images, tokens, caption_image, *, steps: int = 300, lr: float = 3e-3,
                       batch_size: int = 64, device: str = "cpu", seed: int = 0) -> list[float]:
    """Train `model` with `clip_loss` on (image, caption) pairs; returns the loss of every step.

    images:        (N, 3, H, W) float32 in [0, 1] (NumPy or torch).
    tokens:        (M, L) int64 caption ids from the tokenizer, padded with 0.
    caption_image: (M,) int64, the image each caption describes (several captions per image).
    Each step draws `batch_size` DIFFERENT images (min(batch_size, N)), one random caption of
    each, so no image is its own false negative; the step's loss is `clip_loss` of the batch with
    the model's scale(); fresh gradients every step (zero_grad); torch.optim.AdamW(lr) over all
    parameters, the temperature too. The model ends in eval mode on `device`.
    Draws come from `seed` (a torch.Generator), so two runs with one seed train alike.
    """
    raise NotImplementedError('retrieval: task train_dual_encoder — Train `model` with `clip_loss` on (image, caption) pairs; returns the loss of every step')


# ----------------------------------------------------------------------------- index
class EmbeddingIndex:
    """Exact nearest-neighbour search over stored vectors (what faiss's IndexFlatIP does).

    metric: "cosine" (vectors and queries are L2-normalised; a zero vector is an error) or
            "ip" (raw inner product).
    add(vectors (n, d), ids=None): ids default to the next integers after the largest id so far
            (0, 1, 2, ... in an empty index); ids must be non-negative integers, unique across
            the whole index.
    search(queries (Q, d) or (d,), k) -> (scores (Q, k) float32, ids (Q, k) int64), best first;
            equal scores are ordered by LOWER id; where the index holds fewer than k items the
            missing places get id -1 and score -inf.
    Memory: scores are computed for a block of queries at a time (at most `block_elements`
            = 2**22 scores, 16 MiB of float32), so a search over N = 10^6 items with 10^4
            queries never holds the full (Q, N) matrix (40 GB). The graded check allows 256 MiB
            of extra memory where the full matrix would take 460 MiB.
    save(path) writes one file in a plain format (NumPy .npz, no pickle); load(path) reads it back
            (the same metric, ids and search results).
    Wrong dimension, NaN/inf, k < 1, bad ids -> ValueError.

    A correct search needs no more than this: score one block of queries against all N items
    (block = block_elements // N rows), take each row's top k, and sort every row's candidates
    by (score, id). The reference goes further, the way faiss does, and its structure is worth
    reading once yours works (benchmarks/bench_retrieval.py times both against faiss):
      - tiles: a block of queries meets the database one tile of `tile_items` items at a time,
        so the block can be tall (about 1,000 queries) and the matrix product efficient;
        inside a tile the product runs `cache_items` items at a time, so its scores are still
        in the CPU cache when they are read again;
      - chunks: of every `chunk` consecutive items only the best score is kept at first; only
        chunks whose best beats the query's running k-th best score are opened, and only their
        items that beat it are merged into the running top k. After the first tiles almost
        nothing beats it, so selecting costs little next to the product (faiss keeps a heap
        per query for the same reason);
      - ties: a row whose k-th place is tied at a merge is recomputed exactly on its own.
    """

    block_elements = 2**22
    tile_items = 4096  # database items per tile
    cache_items = 512  # items per matrix product: (512, block) float32 scores stay in the cache
    chunk = 16  # items that share one "best score" in the first pass

    def __init__(self, dim: int, metric: str = "cosine"):
        raise NotImplementedError("retrieval: task EmbeddingIndex — Exact nearest-neighbour search over stored vectors (what faiss's IndexFlatIP does)")

    def __len__(self) -> int:
        raise NotImplementedError("retrieval: task EmbeddingIndex — Exact nearest-neighbour search over stored vectors (what faiss's IndexFlatIP does)")

    def _prepare(self, x, name: str) -> np.ndarray:
        """Validate vectors or queries and normalise them for the cosine metric."""
        raise NotImplementedError('retrieval: task EmbeddingIndex — Validate vectors or queries and normalise them for the cosine metric')

    def add(self, vectors, ids=None) -> None:
        """Store vectors (n, d) under `ids` (n,) (default: the next free integers)."""
        raise NotImplementedError('retrieval: task EmbeddingIndex — Store vectors (n, d) under `ids` (n,) (default: the next free integers)')

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by score, ties by lower id: (scores (Q, k) float32, ids (Q, k) int64)."""
        raise NotImplementedError('retrieval: task EmbeddingIndex — Top-k by score, ties by lower id: (scores (Q, k) float32, ids (Q, k) int64)')

    def _search_block(self, q: np.ndarray, kk: int, tile: int) -> tuple[np.ndarray, np.ndarray]:
        """The kk best (scores, ids) of each query in `q` (b, d), unordered: tiles, chunks, merges.

        Optional: the reference's fast path (the class docstring). Your `search` need not call it.
        """
        raise NotImplementedError('retrieval: task EmbeddingIndex — The kk best (scores, ids) of each query in `q` (b, d), unordered: tiles, chunks, merges')

    def save(self, path: str | Path) -> None:
        """Write the index to the file `path` (NumPy .npz: vectors, ids, metric; no pickle)."""
        raise NotImplementedError('retrieval: task EmbeddingIndex — Write the index to the file `path` (NumPy .npz: vectors, ids, metric; no pickle)')

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingIndex:
        """Read an index that `save(path)` wrote."""
        raise NotImplementedError('retrieval: task EmbeddingIndex — Read an index that `save(path)` wrote')


def _merge_into(best: np.ndarray, best_pos: np.ndarray, rows: np.ndarray, scores: np.ndarray,
                positions: np.ndarray) -> np.ndarray:
    """Merge new (row, score, position) items, sorted by row, into each row's running top k, in place.

    best, best_pos: (b, k). Returns (b,) bool: rows where the k-th place is tied after the merge
    (an item of equal score may have been left out, so the row must be recomputed exactly).
    """
    k = best.shape[1]
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # where each touched row's items start
    counts = np.diff(np.r_[first, rows.size])
    touched = rows[first]
    pool = np.full((touched.size, k + counts.max()), -np.inf, dtype=np.float32)
    pool_pos = np.full(pool.shape, -1, dtype=np.int64)
    pool[:, :k], pool_pos[:, :k] = best[touched], best_pos[touched]
    owner = np.repeat(np.arange(touched.size), counts)
    slot = k + np.arange(rows.size) - first[owner]
    pool[owner, slot], pool_pos[owner, slot] = scores, positions
    keep = np.argpartition(pool, -k, axis=1)[:, -k:]  # the k best, in no order
    best[touched] = np.take_along_axis(pool, keep, axis=1)
    best_pos[touched] = np.take_along_axis(pool_pos, keep, axis=1)
    kth = best[touched].min(axis=1, keepdims=True)
    tied = np.zeros(best.shape[0], dtype=bool)
    tied[touched] = ((pool >= kth).sum(axis=1) > k) & np.isfinite(kth[:, 0])
    return tied


def _best_k(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (score, id) pairs, by score then lower id."""
    order = np.lexsort((ids, -scores))[:k]
    return scores[order], ids[order]


# ----------------------------------------------------------------------------- the system
class RetrievalSystem:
    """Text-to-image and image-to-text search with a trained `DualEncoder`.

    system = RetrievalSystem(model, tokenizer, device="cpu")
    system.index_images(images, ids)           # offline: encode the gallery once, store vectors
    system.index_captions(captions, ids)       # the same for a caption gallery
    scores, image_ids = system.search_text("a red circle on the left", k=5)    # (1, 5) each
    scores, caption_ids = system.search_image(image, k=5)                      # image (3, H, W)
    system.evaluate(images, captions, caption_image)   # Recall@1/5/10 and median rank, both ways
    Encoding runs in eval mode, without gradients, in batches of `batch_size`.
    """

    def __init__(self, model: DualEncoder, tokenizer, device: str = "cpu", batch_size: int = 256):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size
        self.image_index: EmbeddingIndex | None = None
        self.caption_index: EmbeddingIndex | None = None

    def encode_images(self, images) -> np.ndarray:
        """(N, 3, H, W) -> (N, d) float32 unit vectors."""
        raise NotImplementedError('retrieval: task RetrievalSystem — (N, 3, H, W) -> (N, d) float32 unit vectors')

    def encode_texts(self, texts: str | Sequence[str]) -> np.ndarray:
        """Strings -> (M, d) float32 unit vectors (tokenised with the system's tokenizer)."""
        raise NotImplementedError("retrieval: task RetrievalSystem — Strings -> (M, d) float32 unit vectors (tokenised with the system's tokenizer)")

    def index_images(self, images, ids=None) -> None:
        """Encode `images` (N, 3, H, W) and add them to the image index (a new one on first use)."""
        raise NotImplementedError('retrieval: task RetrievalSystem — Encode `images` (N, 3, H, W) and add them to the image index (a new one on first use)')

    def index_captions(self, captions: Sequence[str], ids=None) -> None:
        """Encode captions and add them to the caption index."""
        raise NotImplementedError('retrieval: task RetrievalSystem — Encode captions and add them to the caption index')

    def search_text(self, query: str | Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Text -> images: (scores (Q, k), image ids (Q, k)); one string gives Q = 1."""
        raise NotImplementedError('retrieval: task RetrievalSystem — Text -> images: (scores (Q, k), image ids (Q, k)); one string gives Q = 1')

    def search_image(self, image, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Image(s) (3, H, W) or (B, 3, H, W) -> (scores (B, k), caption ids (B, k))."""
        raise NotImplementedError('retrieval: task RetrievalSystem — Image(s) (3, H, W) or (B, 3, H, W) -> (scores (B, k), caption ids (B, k))')

    def evaluate(self, images, captions: Sequence[str], caption_image) -> dict[str, float]:
        """Retrieval quality on a held-out gallery, both directions, via the metrics exercise.

        images: (N, 3, H, W); captions: M strings; caption_image: (M,) index of each caption's image.
        Text->image: each caption's one relevant item is its image. Image->text: an image has
        several relevant captions and a hit is any of them in the top k (as COCO/Flickr30k).
        Returns {"t2i_r1", "t2i_r5", "t2i_r10", "t2i_medr", "i2t_r1", "i2t_r5", "i2t_r10", "i2t_medr"}
        (recalls in [0, 1]; median rank as VSE++: floor(median of 0-based best ranks) + 1).
        """
        raise NotImplementedError('retrieval: task RetrievalSystem — Retrieval quality on a held-out gallery, both directions, via the metrics exercise')
