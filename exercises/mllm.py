# Exercise generated from solutions/mllm.py by `python -m autograder generate`: do not regenerate over
# your work. Replace each `raise NotImplementedError(...)` with your code, then run `python -m autograder`.
"""A tiny LLaVA: image tokens in a language model, instruction tuning, cached decoding, high-resolution tiling.

The pieces, in the order a multimodal LLM uses them:

1. `PatchEmbedding` cuts an image into patches (a ViT's first layer); `VisionEncoder` adds positions and a
   Transformer layer. It stands in for CLIP's ViT and stays frozen.
2. A connector maps image tokens into the language model's embedding space: `MLPProjector` (LLaVA-1.5:
   one token per patch) or `QFormerResampler` (BLIP-2 / Flamingo: a fixed number of learned queries);
   `pixel_shuffle_merge` (InternVL) cuts the token count 4x by stacking 2x2 neighbours into channels.
3. `splice_image_tokens` replaces the `<image>` placeholder in the prompt by the image tokens and builds
   the attention mask, positions and labels (-100 wherever nothing is to be learned).
4. `TinyCausalLM` (a pre-LN decoder-only Transformer with a key/value cache) and `causal_lm_loss`.
5. `greedy_generate` decodes answers, with or without the cache (the tokens must be identical).
6. `TinyVLM` ties it together; `freeze_for_stage` says what LLaVA trains in each stage.
7. `dynamic_tiles` / `num_visual_tokens`: what a high-resolution image costs in tokens (InternVL's rule).
8. `train_tiny_vlm` instruction-tunes on `mmprep.data.vqa` questions; `answer_questions` answers new ones.

Tensors live on the `device` you pass ("cpu", "cuda"); nothing here assumes a GPU. The graded training run
takes a few seconds on one CPU thread: keep the model as small as `VLM_CONFIG`.
"""

from __future__ import annotations

import math  # noqa: F401 - the exercise stubs leave some imports for you to use
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401
from torch import nn

from mmprep.data.vqa import EOS_ID, IMAGE_ID, PAD_ID, VOCAB, decode, encode  # noqa: F401

IGNORE_INDEX = -100
CONNECTORS = ("mlp", "resampler")
# The graded model: 24x24 images, 8x8 patches (a 3x3 grid: left/right/top/bottom each own a patch).
VLM_CONFIG = {"image_size": 24, "patch_size": 8, "vision_dim": 32, "dim": 48, "vision_layers": 1, "text_layers": 2,
              "num_heads": 4, "max_len": 32, "num_queries": 4}


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- vision side
class PatchEmbedding(nn.Module):
    """ViT patchify: (B, C, H, W) images -> (B, N, dim) patch tokens, N = (H/p)·(W/p), row-major order.

    self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size): a convolution whose
    stride equals its kernel is one Linear applied to every non-overlapping patch (flattened channel-first,
    as `F.unfold` does). Patch k is at grid row k // (W/p), column k % (W/p).
    image_size not divisible by patch_size -> ValueError at construction; images of another size or
    channel count -> ValueError in forward.
    """

    def __init__(self, image_size: int, patch_size: int, in_channels: int, dim: int):
        super().__init__()
        raise NotImplementedError('mllm: task PatchEmbedding — ViT patchify: (B, C, H, W) images -> (B, N, dim) patch tokens, N = (H/p)·(W/p), row-major order')

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> (B, N, dim)."""
        raise NotImplementedError('mllm: task PatchEmbedding — images (B, C, H, W) -> (B, N, dim)')


class VisionEncoder(nn.Module):
    """Given: PatchEmbedding + learned positions + pre-LN Transformer layers, (B, 3, H, W) -> (B, N, vision_dim).

    In LLaVA this is CLIP's ViT-L/14 (frozen throughout); here it is small and randomly initialised, and
    also frozen: the connector learns to read its features, as LLaVA's projector learns to read CLIP's.
    """

    def __init__(self, image_size: int, patch_size: int, vision_dim: int, num_layers: int = 1, num_heads: int = 4):
        super().__init__()
        self.patch_embed = PatchEmbedding(image_size, patch_size, 3, vision_dim)
        self.pos_embed = nn.Parameter(torch.randn(1, self.patch_embed.num_patches, vision_dim) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(vision_dim, num_heads, 2 * vision_dim, dropout=0.0, batch_first=True,
                                       norm_first=True) for _ in range(num_layers))
        self.norm = nn.LayerNorm(vision_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(images) + self.pos_embed
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


# ----------------------------------------------------------------------------- connectors
class MLPProjector(nn.Module):
    """LLaVA-1.5's connector ("mlp2x_gelu"): Linear -> GELU -> Linear, (B, N, vision_dim) -> (B, N, text_dim).

    self.fc1 = nn.Linear(vision_dim, hidden_dim), self.fc2 = nn.Linear(hidden_dim, text_dim); the GELU is the
    exact (erf) one, nn.GELU(). hidden_dim defaults to text_dim (as LLaVA). One output token per input token.
    """

    def __init__(self, vision_dim: int, text_dim: int, hidden_dim: int | None = None):
        super().__init__()
        raise NotImplementedError('mllm: task MLPProjector — LLaVA-1.5\'s connector ("mlp2x_gelu"): Linear -> GELU -> Linear, (B, N, vision_dim) -> (B, N, text_dim)')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, N, vision_dim) -> (B, N, text_dim)."""
        raise NotImplementedError('mllm: task MLPProjector — x (B, N, vision_dim) -> (B, N, text_dim)')


class QFormerResampler(nn.Module):
    """A fixed token budget: `num_queries` learned queries cross-attend to the image tokens (BLIP-2's Q-Former,
    Flamingo's Perceiver Resampler). (B, N, vision_dim) -> (B, num_queries, dim) for ANY N.

    self.queries: nn.Parameter (num_queries, dim), learned. Each of `num_layers` pre-LN layers:
    queries attend to each other (self-attention), then to the image tokens (cross-attention; keys and
    values come from the image tokens, projected from vision_dim), then an MLP, each with a residual.
    A final LayerNorm. Every row of the batch is resampled from its own image only. No positions are
    added here: the image tokens carry the encoder's. (BLIP-2 also trains the Q-Former in its stage 1 with
    contrastive, matching and captioning losses; here it is trained end to end by the answers' loss.)
    """

    def __init__(self, num_queries: int, dim: int, vision_dim: int, num_layers: int = 2, num_heads: int = 4):
        super().__init__()
        raise NotImplementedError("mllm: task QFormerResampler — A fixed token budget: `num_queries` learned queries cross-attend to the image tokens (BLIP-2's Q-Former,")

    def forward(self, image_tokens: torch.Tensor) -> torch.Tensor:
        """image_tokens (B, N, vision_dim) -> (B, num_queries, dim)."""
        raise NotImplementedError('mllm: task QFormerResampler — image_tokens (B, N, vision_dim) -> (B, num_queries, dim)')


def pixel_shuffle_merge(tokens: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """InternVL's token compression: (B, N, D) -> (B, N/f², D·f²).

    The N tokens lie on a √N x √N grid in row-major order. Output token (i, j) (row-major over the
    (√N/f) x (√N/f) grid) concatenates the f x f block of input tokens at rows f·i .. f·i+f-1, columns
    f·j .. f·j+f-1, in row-major order within the block: for f = 2, [t(2i, 2j), t(2i, 2j+1), t(2i+1, 2j),
    t(2i+1, 2j+1)]. (InternVL's own pixel_shuffle orders the channels differently; any fixed order holds the
    same information for the MLP that follows, but the graded order is this one.)
    N not a square, or √N not divisible by f -> ValueError.
    """
    raise NotImplementedError("mllm: task pixel_shuffle_merge — InternVL's token compression: (B, N, D) -> (B, N/f², D·f²)")


# ----------------------------------------------------------------------------- splicing and the loss
def splice_image_tokens(input_ids: torch.Tensor, target_mask: torch.Tensor, image_features: torch.Tensor,
                        embedding: nn.Module, image_token_id: int = IMAGE_ID, pad_id: int = PAD_ID) -> dict:
    """Replace each row's one `<image>` placeholder by its N image tokens (LLaVA's prepare_inputs_labels).

    input_ids:      (B, L) int64; each row holds exactly one `image_token_id`; `pad_id` marks padding
                    (left or right, anywhere: it is masked, not removed).
    target_mask:    (B, L) bool, True on the tokens to learn (the answer); never on padding or the placeholder.
    image_features: (B, N, D), already in the language model's space (the connector's output).
    embedding:      the language model's token embedding (nn.Embedding(vocab, D)).
    Returns a dict, with M = L - 1 + N (the placeholder's slot becomes N slots, at the same place):
      inputs_embeds  (B, M, D)  token embeddings, and image_features[b] where row b's placeholder was;
                                gradients flow back into image_features (the connector is trained through it);
      attention_mask (B, M) bool, False exactly on padding;
      position_ids   (B, M) int64, 0, 1, 2, ... over the non-padding slots in order (image slots count);
                                padding slots: 0 (any position is fine there: they are masked);
      labels         (B, M) int64, the token id where target_mask is True, -100 everywhere else (image
                                slots, prompt, padding). Labels are NOT shifted: the loss shifts them.
    A row without exactly one placeholder, mismatched shapes, a target on padding -> ValueError.
    """
    raise NotImplementedError("mllm: task splice_image_tokens — Replace each row's one `<image>` placeholder by its N image tokens (LLaVA's prepare_inputs_labels)")


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy: the logits at position t predict labels[t + 1] (labels are unshifted).

    logits: (B, T, V); labels: (B, T) int64 with -100 where nothing is learned.
    Mean over the supervised (label != -100) shifted targets of the whole batch, as Hugging Face's causal
    LM loss. Returns a 0-d tensor. No supervised target at all -> ValueError (the mean would be 0/0).
    """
    raise NotImplementedError('mllm: task causal_lm_loss — Next-token cross-entropy: the logits at position t predict labels[t + 1] (labels are unshifted)')


# ----------------------------------------------------------------------------- the language model
class TinyCausalLM(nn.Module):
    """A pre-LN decoder-only Transformer (GPT-2 style) that reads embeddings and keeps a key/value cache.

    self.embed_tokens = nn.Embedding(vocab_size, dim) (the embedding `splice_image_tokens` uses);
    learned absolute positions nn.Embedding(max_len, dim) looked up at `position_ids` (both tables initialised
    N(0, 0.02) as GPT-2: with nn.Embedding's default N(0, 1) the positions drown the image tokens and the graded
    training often stalls on answering from the question alone); `num_layers` blocks
    x = x + attn(ln1(x)); x = x + mlp(ln2(x)); a final LayerNorm; lm_head Linear(dim, vocab_size).

    forward(inputs_embeds (B, T, dim), attention_mask=None, position_ids=None, past_key_values=None,
            use_cache=False) -> (logits (B, T, vocab_size), cache or None)
      attention_mask (B, P + T) bool over the cached P and the new T positions, False on padding
                     (default: all True); a query sees a key iff the key is not padding and not in its future;
      position_ids   (B, T) (default P, P+1, ..., P+T-1);
      past_key_values: the cache a previous call returned (None: nothing cached). With use_cache=True the
                     second value is the new cache: one (key, value) pair per layer, each (B, heads, P + T,
                     dim/heads). Running a sequence in one call, or its prefix then the rest with the cache,
                     gives the same logits.
    """

    def __init__(self, vocab_size: int, dim: int, num_layers: int, num_heads: int, max_len: int):
        super().__init__()
        raise NotImplementedError('mllm: task TinyCausalLM — A pre-LN decoder-only Transformer (GPT-2 style) that reads embeddings and keeps a key/value cache')

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values=None, use_cache: bool = False):
        """-> (logits (B, T, vocab_size), new cache when use_cache else None)."""
        raise NotImplementedError('mllm: task TinyCausalLM — -> (logits (B, T, vocab_size), new cache when use_cache else None)')


class _DecoderLayer(nn.Module):
    """One pre-LN block with causal self-attention and a key/value cache (part of TinyCausalLM)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        raise NotImplementedError('mllm: task _DecoderLayer — One pre-LN block with causal self-attention and a key/value cache (part of TinyCausalLM)')

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, past=None):
        """x (B, T, dim), allowed (B, T, P + T) bool -> (x, (keys, values) including the new positions)."""
        raise NotImplementedError('mllm: task _DecoderLayer — x (B, T, dim), allowed (B, T, P + T) bool -> (x, (keys, values) including the new positions)')


# ----------------------------------------------------------------------------- decoding
def greedy_generate(model: nn.Module, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                    max_new_tokens: int, eos_id: int, use_cache: bool = True) -> torch.Tensor:
    """Greedy decoding of a batch of prompts given as embeddings: (B, T_new) int64, T_new <= max_new_tokens.

    model: anything with TinyCausalLM's interface (`embed_tokens`, forward as documented there).
    inputs_embeds (B, L, D), attention_mask (B, L) bool: prompts LEFT-padded (False on padding), so every
    row's next token goes at the same slot. Positions count real tokens only: the prompt's are
    cumsum(mask) - 1, the k-th new token of a row with n real prompt tokens sits at position n + k.
    Each step appends the argmax token of every row. A row that has produced `eos_id` is finished: its
    later entries are `eos_id`; decoding stops when every row has finished or after max_new_tokens steps.
    use_cache=True runs the prompt once, then the model on ONE new position per step (the cache holds the
    rest); use_cache=False reruns the whole sequence each step. Both return identical tokens.
    Runs under torch.no_grad().
    """
    raise NotImplementedError('mllm: task greedy_generate — Greedy decoding of a batch of prompts given as embeddings: (B, T_new) int64, T_new <= max_new_tokens')


# ----------------------------------------------------------------------------- the VLM
class TinyVLM(nn.Module):
    """Vision encoder (frozen) -> connector -> TinyCausalLM, as LLaVA.

    self.vision_encoder = VisionEncoder(image_size, patch_size, vision_dim, vision_layers, num_heads);
    self.connector = MLPProjector(vision_dim, dim) for connector="mlp" (N = (image_size/patch_size)² image
    tokens) or QFormerResampler(num_queries, dim, vision_dim, num_layers=1, num_heads) for "resampler"
    (num_queries image tokens); self.language_model = TinyCausalLM(vocab_size, dim, text_layers, num_heads,
    max_len). image_token_id / pad_id: the placeholder and padding ids of the prompts.

    image_features(images (B, 3, H, W)) -> (B, num_image_tokens, dim): encoder then connector.
    forward(images, input_ids (B, L), target_mask (B, L) bool or None) -> dict with
      logits (B, M, vocab), labels (B, M), attention_mask (B, M), position_ids (B, M) (from
      splice_image_tokens, M = L - 1 + num_image_tokens) and loss (causal_lm_loss; None without target_mask).
    """

    def __init__(self, vocab_size: int, *, image_size: int = 24, patch_size: int = 8, vision_dim: int = 32,
                 dim: int = 48, vision_layers: int = 1, text_layers: int = 2, num_heads: int = 4, max_len: int = 32,
                 connector: str = "mlp", num_queries: int = 4, image_token_id: int = IMAGE_ID, pad_id: int = PAD_ID):
        super().__init__()
        raise NotImplementedError('mllm: task TinyVLM — Vision encoder (frozen) -> connector -> TinyCausalLM, as LLaVA')

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> (B, num_image_tokens, dim)."""
        raise NotImplementedError('mllm: task TinyVLM — images (B, 3, H, W) -> (B, num_image_tokens, dim)')

    def forward(self, images: torch.Tensor, input_ids: torch.Tensor, target_mask: torch.Tensor | None = None) -> dict:
        """-> {"logits", "labels", "attention_mask", "position_ids", "loss"}."""
        raise NotImplementedError('mllm: task TinyVLM — -> {"logits", "labels", "attention_mask", "position_ids", "loss"}')


def freeze_for_stage(model: TinyVLM, stage: int) -> None:
    """Set requires_grad as LLaVA's two stages do (the vision encoder is frozen in both).

    stage 1 (feature alignment, LLaVA's pretraining on image-caption pairs): only the connector trains;
            the whole language model (token embeddings included) and the vision encoder are frozen.
    stage 2 (visual instruction tuning): the connector and the whole language model train.
    Any other stage -> ValueError.
    """
    raise NotImplementedError("mllm: task freeze_for_stage — Set requires_grad as LLaVA's two stages do (the vision encoder is frozen in both)")


# ----------------------------------------------------------------------------- high resolution
def dynamic_tiles(height: int, width: int, tile_size: int = 448, max_tiles: int = 12, min_tiles: int = 1,
                  use_thumbnail: bool = True) -> tuple[int, int, int]:
    """InternVL 1.5's dynamic high-resolution rule (`dynamic_preprocess`): -> (grid_rows, grid_cols, num_tiles).

    Candidate grids: every (cols, rows) with min_tiles <= cols·rows <= max_tiles, visited in increasing
    cols·rows (then increasing cols). The image's aspect ratio is width / height; pick the grid whose
    cols / rows is closest to it (InternVL's `find_closest_aspect_ratio`): a strictly smaller difference
    wins; on an equal difference the later (larger) grid wins only if the image's area exceeds half the
    grid's pixel area, width·height > 0.5 · tile_size² · cols·rows. The image is resized to
    (rows·tile_size, cols·tile_size) and cut into rows·cols tiles; with use_thumbnail, a grid of more than
    one tile also gets a thumbnail (the whole image resized to one tile), so
    num_tiles = rows·cols + (1 if use_thumbnail and rows·cols > 1 else 0).
    (LLaVA-NeXT's anyres picks among fixed grids by effective resolution and always adds the base image.)
    Non-positive sizes, min_tiles > max_tiles -> ValueError.
    """
    raise NotImplementedError("mllm: task dynamic_tiles — InternVL 1.5's dynamic high-resolution rule (`dynamic_preprocess`): -> (grid_rows, grid_cols, num_tiles)")


def num_visual_tokens(height: int, width: int, tile_size: int = 448, patch_size: int = 14, max_tiles: int = 12,
                      merge_factor: int = 2, use_thumbnail: bool = True) -> int:
    """Image tokens an InternVL-style model spends on one image: tiles x tokens per tile.

    Tiles from `dynamic_tiles(height, width, tile_size, max_tiles, use_thumbnail=use_thumbnail)` (thumbnail
    included); each tile is (tile_size / patch_size)² patches, and pixel shuffle with `merge_factor` f keeps
    1/f² of them: InternVL2 (448-pixel tiles, patch 14, f = 2) spends 1024 / 4 = 256 tokens per tile.
    merge_factor 1 is LLaVA-style (one token per patch). tile_size not divisible by patch_size, or
    tile_size/patch_size not divisible by merge_factor -> ValueError.
    """
    raise NotImplementedError('mllm: task num_visual_tokens — Image tokens an InternVL-style model spends on one image: tiles x tokens per tile')


# ----------------------------------------------------------------------------- instruction tuning
def build_prompts(questions: Sequence[str], answers: Sequence[str] | None = None, *, left_pad: bool = False):
    """Given: token ids of "<image> question [answer <eos>]" rows, padded with PAD_ID.

    -> (input_ids (B, L) int64, target_mask (B, L) bool, True on the answer and its <eos>).
    left_pad=True pads on the left (for generation: every row's next token goes at the same slot).
    """
    rows, targets = [], []
    for i, question in enumerate(questions):
        prompt = [IMAGE_ID, *encode(question)]
        answer = [] if answers is None else [*encode(answers[i]), EOS_ID]
        rows.append(prompt + answer)
        targets.append([False] * len(prompt) + [True] * len(answer))
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (r, t) in enumerate(zip(rows, targets)):
        where = slice(width - len(r), width) if left_pad else slice(0, len(r))
        ids[i, where] = torch.tensor(r)
        mask[i, where] = torch.tensor(t)
    return ids, mask


def train_tiny_vlm(images, image_index, questions: Sequence[str], answers: Sequence[str], *, connector: str = "mlp",
                   steps: int = 400, stage1_steps: int = 25, batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
                   device: str = "cpu") -> tuple[TinyVLM, list[float]]:
    """Build a TinyVLM(len(VOCAB), **VLM_CONFIG, connector=connector) and instruction-tune it on questions.

    images (N, 3, 24, 24) float32 in [0, 1]; image_index (Q,) the image of each question; questions and
    answers: Q strings of `mmprep.data.vqa` (`make_vqa` gives all four).
    The model is built after torch.manual_seed(seed); batches are drawn from a torch.Generator seeded with
    `seed`: each step `batch_size` random questions with THEIR images. Stage 1 (`stage1_steps` steps):
    freeze_for_stage(model, 1); stage 2 (the remaining steps - stage1_steps): freeze_for_stage(model, 2);
    AdamW(lr, weight_decay=0) over the trainable parameters of each stage; the loss is the model's
    (answers only, prompts and image slots masked with -100). Returns (model in eval mode on `device`, the
    loss of every step). Our language model is not pretrained, so stage 1 only warms the connector up.
    """
    raise NotImplementedError('mllm: task train_tiny_vlm — Build a TinyVLM(len(VOCAB), **VLM_CONFIG, connector=connector) and instruction-tune it on questions')


def answer_questions(model: TinyVLM, images, questions: Sequence[str], max_new_tokens: int = 3) -> list[str]:
    """Answer one question per image: images (B, 3, H, W), questions B strings -> B answer strings.

    Build "<image> question" prompts LEFT-padded (`build_prompts(..., left_pad=True)`), splice the image
    features in, decode greedily with the cache (`greedy_generate`, eos EOS_ID) and `decode` each row (the
    words before <eos>). A question answered alone or inside a batch gets the same answer. Runs in
    eval mode without gradients, on the model's device.
    """
    raise NotImplementedError('mllm: task answer_questions — Answer one question per image: images (B, 3, H, W), questions B strings -> B answer strings')
