"""The chapter's five homework tasks, as functions the notebook plots and the grader grades.

1. ``shape_trace``: the output shape of every layer of a UNet, in the order they run.
2. ``NoSkipUNet`` and ``skip_ablation``: train a UNet with and without its skip connections on the
   same images and compare how well each reconstructs images it has not seen.
3. ``timestep_embeddings`` and ``embedding_similarity``: the sinusoidal codes of many timesteps,
   and how alike the codes of two timesteps are.
4. ``attention_map``: where one position of a feature map looks, according to ``SelfAttention``.
5. ``parameter_breakdown`` and ``parameter_shares``: where a model's parameters are.

Each function uses your modules from the other files (``SimpleUNet``, ``SelfAttention``,
``sinusoidal_embedding``); the grader gives each task the reference versions of those, so a
mistake in a block costs that block's points, not these. Each docstring says which of its rules the
grader verifies, however you meet them.
"""
import math

import torch
import torch.nn.functional as F

from .time_embedding import sinusoidal_embedding
from .unet import SimpleUNet
from .up_block import UpBlock


# --- Task 1: every layer's shape -------------------------------------------------------------------

def shape_trace(model, x, t):
    """The output shape of every submodule of ``model`` while it runs ``model(x, t)``.

    Returns a list of ``(name, shape)`` pairs, ``shape`` a tuple of ints, in the order the outputs are
    produced (a block's own entry comes after the entries of the layers inside it). ``name`` is the
    submodule's name in ``model.named_modules()`` (``"down1.res.conv1"``); the model itself has no
    entry. Two kinds of entries are special:

    * A submodule that returns a tuple (a DownBlock returns ``(down(h), h)``) gets one entry per
      element, named ``"<name>[0]"``, ``"<name>[1]"``, ...
    * Every UpBlock also gets an entry ``"<name>.concat"``: the shape of the concatenation of its
      upsampled features and its skip, i.e. the input of its ResBlock, recorded when that ResBlock
      starts.

    Do not copy the forward pass: ``shape_trace`` must work on any model's own ``forward``.

    The grader checks each point:

    * the names of the entries, in the order the outputs are produced, on a SimpleUNet and on another
      model (a ``DownBlock``, traced as ``shape_trace(block, x, t_emb)``);
    * the shape of each entry;
    * the ``.concat`` entries: their shapes, each between its UpBlock's upsampling and its ResBlock;
    * that ``shape_trace`` leaves the model as it found it: no hooks left on it, global module hooks
      included (also when the forward pass raises), the same list when called twice on one model, no
      gradients built (run it without gradients), its train/eval mode, its weights and their
      ``requires_grad`` as they were.
    """
    raise NotImplementedError()


# --- Task 2: with and without skip connections ------------------------------------------------------

class NoSkipUNet(SimpleUNet):
    """``SimpleUNet`` with its skip connections cut: the decoder gets zeros where the skips were.

    Same constructor, same submodules, same parameters (names and shapes) as ``SimpleUNet``, so one
    state_dict loads into both and an experiment can start both from the same weights: the only
    difference left is the skips. The grader checks that its output matches a SimpleUNet's with the
    same weights whose skips are zeros. Only ``forward`` changes: the encoder still runs (its downsampled
    outputs feed the bottleneck), but each UpBlock receives a tensor of zeros *of the skip's shape*
    instead of the skip itself.
    """

    def forward(self, x, t):
        raise NotImplementedError()


# The experiment's fixed settings: both models train in ~2.5 s of one CPU core (see the README).
STEPS = 50
IMAGE_SIZE = 16
TRAIN_IMAGES = 64
HELD_OUT_IMAGES = 16
BATCH_SIZE = 8
LEARNING_RATE = 5e-3
BASE_CHANNELS = 8


def shape_images(n, size=IMAGE_SIZE, seed=0):
    """``n`` grey images of random shapes with sharp edges: a ``(n, 1, size, size)`` float tensor in [0, 1].

    Each image is black with 2 to 4 shapes painted over each other: rectangles, discs and one-pixel
    lines, each of one brightness between 0.3 and 1. The same ``seed`` gives the same images on any
    machine (one ``torch.Generator``, no global state). Given, not graded.
    """
    generator = torch.Generator().manual_seed(seed)

    def uniform(low, high):
        return low + (high - low) * torch.rand((), generator=generator).item()

    def integer(low, high):
        return int(torch.randint(low, high, (), generator=generator))

    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images = torch.zeros(n, 1, size, size)
    for image in images:
        for _ in range(integer(2, 5)):
            kind, brightness = integer(0, 3), uniform(0.3, 1.0)
            if kind == 0:
                top, left = integer(0, size - 2), integer(0, size - 2)
                height, width = integer(2, size // 2), integer(2, size // 2)
                mask = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
            elif kind == 1:
                centre_row, centre_col, radius = uniform(0, size), uniform(0, size), uniform(1.5, 1.5 + size / 4)
                mask = (rows - centre_row) ** 2 + (cols - centre_col) ** 2 <= radius ** 2
            else:
                mask = (rows if integer(0, 2) else cols) == integer(0, size)
            image[0][mask] = brightness
    return images


def skip_ablation(steps=STEPS, seed=0):
    """Train a ``SimpleUNet`` and a ``NoSkipUNet`` to reconstruct images; compare them on held-out images.

    The protocol. The grader watches your run (which models are called on which batches, and how
    they are stepped) and checks each point:

    * Data: ``images = shape_images(TRAIN_IMAGES + HELD_OUT_IMAGES, IMAGE_SIZE, seed)``; the first
      ``TRAIN_IMAGES`` are for training, the last ``HELD_OUT_IMAGES`` only for the evaluation.
    * Models: ``SimpleUNet(1, 1, BASE_CHANNELS)`` built right after ``torch.manual_seed(seed)``, and a
      ``NoSkipUNet(1, 1, BASE_CHANNELS)``: both models start from the same weights (load the first
      one's state_dict into the second).
    * Task: reconstruction at timestep 0, trained with Adam: the target is the input image itself,
      every image gets timestep 0, and each step is one step of Adam (``LEARNING_RATE``, no schedule)
      on the mean squared error; record each step's loss (a float, before that step's update).
    * Steps: both models train for ``steps`` steps, one loss recorded per step.
    * Batches: both models see the same batches of training images, in the same order: each step
      takes ``BATCH_SIZE`` training images drawn at random (with replacement) by a generator of the
      batches' own seeded with ``seed`` (a ``torch.Generator``, say; not the global one the models
      are built from) -- one generator per model seeded alike, or one list of batches drawn once
      for both, as you like. A ``DataLoader`` is fine with ``num_workers=0``: grading runs in one
      process, without worker processes.
    * Evaluation: reconstruct the held-out images without gradients; ``mse`` is the mean squared
      error over all their pixels, ``psnr = 10 * log10(1 / mse)`` in dB (the images' peak is 1); the
      result gives back the ``steps`` and ``seed`` it was called with.
    * Reproducible: the same ``steps`` and ``seed`` give the same numbers, and a run of ``k`` steps is
      exactly the first ``k`` steps of a longer run (the grader compares a short run with the start
      of the full one).
    * Result: with skips the UNet reconstructs the held-out images clearly better (by at least 1 dB).

    Returns a dict::

        {"steps": steps, "seed": seed,
         "images": the held-out images, (HELD_OUT_IMAGES, 1, IMAGE_SIZE, IMAGE_SIZE),
         "with_skips": {"losses": [steps floats], "mse": float, "psnr": float,
                        "reconstructions": a tensor shaped like "images"},
         "without_skips": {the same for the NoSkipUNet}}

    It runs on one torch thread and then gives the caller's setting back (given code): these models are
    tiny, one thread is the fastest (2 to 3 s for both with the defaults), and the numbers then do not
    depend on the machine. Write no files in it (no ``plt.savefig``, no ``torch.save``): the grader runs
    it where nothing can be written; save and plot from the returned dict, in your notebook.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        raise NotImplementedError()
    finally:
        torch.set_num_threads(threads)


# --- Task 3: timestep embeddings ---------------------------------------------------------------------

def timestep_embeddings(dim, timesteps):
    """The sinusoidal embeddings of many timesteps, one row each: a ``(T, dim)`` float tensor.

    ``timesteps`` is a 1-D tensor or a sequence (list, ``range``) of T timesteps; row ``i`` is the
    ``dim``-feature embedding of ``timesteps[i]``, exactly what ``sinusoidal_embedding`` gives it. The
    grader checks that each row is the embedding of its timestep, for tensors and lists alike.
    """
    raise NotImplementedError()


def embedding_similarity(embeddings):
    """The cosine similarity of every pair of rows of ``embeddings`` (``(T, D)``, rows not zero).

    Returns a ``(T, T)`` tensor ``S`` with ``S[i, j] = e_i . e_j / (|e_i| |e_j|)``: 1 on the diagonal,
    symmetric, between -1 and 1. (Every sinusoidal embedding has the same length, sqrt(D/2), but
    the function must work for any rows.) The grader checks the values of the cosine similarity, and
    that the matrix is symmetric, 1 on the diagonal and within [-1, 1].
    """
    raise NotImplementedError()


# --- Task 4: an attention map ---------------------------------------------------------------------

def attention_map(attention, x, query):
    """Where one position looks: the attention weights of position ``query`` over all positions.

    ``attention`` is a ``SelfAttention``, ``x`` its input ``(B, C, H, W)``, ``query`` a pair
    ``(row, col)`` with ``0 <= row < H`` and ``0 <= col < W``. Returns a ``(B, H, W)`` tensor: for
    each image, the softmax weights that the query position gives to every key position, laid out
    like the image. Use the module's own weights
    (``attention(x, return_weights=True)``), without gradients. Positions are numbered row by row,
    as when ``(H, W)`` is flattened: ``(row, col)`` is position ``row * W + col``. The grader checks
    the map's shape, its values (the query's own weights over the keys), and that each map is
    non-negative and sums to 1.
    """
    raise NotImplementedError()


# --- Task 5: where the parameters are ----------------------------------------------------------

def parameter_breakdown(model):
    """The number of parameters in each top-level part of ``model``: ``{name: count}``.

    One entry per child in ``model.named_children()`` order (for a SimpleUNet: ``time_embed``,
    ``down1``, ..., ``out``), counting every parameter element inside it, frozen ones too (buffers are
    no parameters); a part without parameters (an ``nn.Identity``) counts 0. The counts add up to the model's total,
    ``sum(p.numel() for p in model.parameters())``. The grader checks the count of each top-level part, and
    their order.
    """
    raise NotImplementedError()


def parameter_shares(breakdown):
    """Each part's share of the total, as a fraction: ``{name: count / total}`` (they sum to 1).

    The grader checks each part's share, a fraction of the total (not a percentage), for every part of
    the breakdown, a part without parameters too (its share is 0).
    """
    raise NotImplementedError()
