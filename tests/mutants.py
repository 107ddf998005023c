"""The bank of known submissions: real mistakes (each must lose points on exactly its component,
and its feedback must name the mistake: ``shows``) and correct-but-different implementations (each
must get full marks).

``shows`` is written from the mistake itself -- what a student must read to find it -- not copied
from a grading run.

A mutant is the reference with one textual edit (or a few, in one module, where the mistake needs
them), so each entry reads as the mistake itself. Equivalents that are easier to read as a whole
file live in ``tests/data/equivalents/<name>/<module>.py``.
"""
from dataclasses import dataclass
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions" / "unet"
EQUIVALENT_FILES = Path(__file__).resolve().parent / "data" / "equivalents"


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str
    find: str
    replace: str
    component: str | None  # the component that must lose points; None: correct, full marks
    also: tuple[tuple[str, str], ...] = ()  # further (find, replace) edits in the same module
    shows: str = ""  # a phrase the component's feedback must contain (a mistake's name for itself)
    fails: tuple[str, ...] = ()  # where given, exactly the checks that must fail (one mistake, the checks that see it)

    def replacements(self) -> dict[str, str]:
        source = (SOLUTIONS / f"{self.module}.py").read_text()
        for find, replace in ((self.find, self.replace),) + self.also:
            count = source.count(find)
            if count != 1:
                raise AssertionError(f"mutant {self.name!r}: {find!r} occurs {count} times in {self.module}.py")
            source = source.replace(find, replace)
        return {self.module: source}


@dataclass(frozen=True)
class WholeFiles:
    """A submission whose modules under ``tests/data/equivalents/<folder>/`` replace the reference's."""

    name: str
    folder: str
    component: str | None = None

    def replacements(self) -> dict[str, str]:
        files = sorted((EQUIVALENT_FILES / self.folder).glob("*.py"))
        if not files:
            raise AssertionError(f"{self.name!r}: no modules under {EQUIVALENT_FILES / self.folder}")
        return {f.stem: f.read_text() for f in files}


# a slip in sinusoidal_embedding costs its values' check alone in TimeEmbedding (its docstring grades the
# function once, on its own), and Integration, which runs the student's own blocks
_SINUSOID_ONLY = ("TimeEmbedding: sinusoid_values", "Integration: matches_reference")
TE, RB, DB, UB, UN, SA, AR = ("TimeEmbedding", "ResBlock", "DownBlock", "UpBlock", "SimpleUNet",
                              "SelfAttention", "AttnResBlock")
_TIME = "h = h + self.time_mlp(t_emb)[:, :, None, None]"
_SCALE = "scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(C)"
_BACK = "attn = torch.matmul(weights, v).transpose(1, 2).reshape(B, C, H, W)"


def _tokens(flattened: str, back: str | None = None) -> dict:
    """The edits that flatten each of q, k and v into tokens as ``flattened`` says ("{0}": the tensor's
    name), and with ``back`` the edit of how attn comes back to (B, C, H, W)."""
    edits = [(f"{name} = {name}.reshape(B, C, H * W).transpose(1, 2)", flattened.format(name)) for name in "qkv"]
    edits += [(_BACK, back)] if back else []
    return {"find": edits[0][0], "replace": edits[0][1], "also": tuple(edits[1:])}

MUTANTS = [
    # TimeEmbedding and sinusoidal_embedding
    Mutant("sinusoid denominator dim/2 instead of dim/2 - 1", "time_embedding",
           "scale = math.log(10000.0) / (half - 1)", "scale = math.log(10000.0) / half", TE,
           shows="the frequencies divide by dim/2 instead of dim/2 - 1",
           fails=_SINUSOID_ONLY),
    Mutant("cosines before sines", "time_embedding",
           "torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)",
           "torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)", TE,
           shows="the cosines come first",
           fails=_SINUSOID_ONLY),
    Mutant("sin and cos interleaved instead of concatenated", "time_embedding",
           "torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)",
           "torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)", TE,
           shows="sines and cosines alternate (interleaved)",
           fails=_SINUSOID_ONLY),
    # the docstring's forward calls sinusoidal_embedding, graded once on its own: a forward that repeats the
    # formula (wrongly, while the function is right) is the forward's own mistake
    Mutant("TimeEmbedding.forward repeats the sinusoid, cosines first, instead of calling the function",
           "time_embedding", "return self.mlp(sinusoidal_embedding(t, self.dim))",
           "half = self.dim // 2\n"
           "        freqs = torch.exp(torch.arange(half) * -(math.log(10000.0) / (half - 1)))\n"
           "        angles = torch.as_tensor(t)[:, None] * freqs[None, :]\n"
           "        return self.mlp(torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1))", TE,
           shows="cosines come first", fails=("TimeEmbedding: forward_matches", "TimeEmbedding: gradients",
                                              "Integration: matches_reference")),
    # with 2 frequencies (dim 4) any formula from 1 down to 1/10000 gives the contract's: the values are
    # checked at 3 and more (red team)
    Mutant("sinusoid frequencies evenly spaced (linspace) instead of geometric", "time_embedding",
           "freqs = torch.exp(torch.arange(half, device=t.device) * -scale)",
           "freqs = torch.linspace(1.0, 1e-4, half, device=t.device)", TE,
           shows="f_i = exp(-i*ln(10000)/(3-1))",
           fails=_SINUSOID_ONLY),
    Mutant("sinusoid frequencies without the / (half - 1)", "time_embedding",
           "scale = math.log(10000.0) / (half - 1)", "scale = math.log(10000.0)", TE,
           shows="f_i = exp(-i*ln(10000)/(3-1))",
           fails=_SINUSOID_ONLY),
    # a forward that raises costs the forward's checks (and the gated mlp_matches), not the sinusoid's
    Mutant("TimeEmbedding.forward uses an undefined name", "time_embedding",
           "return self.mlp(sinusoidal_embedding(t, self.dim))", "return self.mlp(sinusoidal_embedding(t, dim))", TE,
           shows="NameError", fails=tuple(f"TimeEmbedding: {c}" for c in (
               "output_shape", "forward_matches", "gradients", "batch_independence", "inputs_unchanged", "mlp_matches"))
           + ("Integration: runs_end_to_end", "Integration: matches_reference")),
    # features that mix samples are the sinusoid's checks' to charge, not TimeEmbedding's batch_independence
    Mutant("sinusoid of the first timestep for every sample", "time_embedding",
           "    angles = t[:, None] * freqs[None, :]\n",
           "    angles = t[:1, None] * freqs[None, :]\n    angles = angles.expand(t.shape[0], -1)\n", TE,
           shows="a new t[0] changed the features of another sample",
           fails=("TimeEmbedding: sinusoid_shape", "TimeEmbedding: sinusoid_values", "Integration: matches_reference")),
    Mutant("growing frequencies (sign of the exponent)", "time_embedding",
           "torch.arange(half, device=t.device) * -scale", "torch.arange(half, device=t.device) * scale", TE,
           shows="the frequencies grow with i",
           fails=_SINUSOID_ONLY),
    Mutant("sinusoid column by column (a Python loop over the frequencies)", "time_embedding",
           "    angles = t[:, None] * freqs[None, :]\n    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)",
           "    columns = [torch.sin(t * f) for f in freqs] + [torch.cos(t * f) for f in freqs]\n"
           "    return torch.stack(columns, dim=1)", TE, shows="a Python loop over the frequencies"),
    Mutant("sinusoid row by row (a Python loop over the timesteps)", "time_embedding",
           "    angles = t[:, None] * freqs[None, :]\n    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)",
           "    rows = [torch.cat([torch.sin(step * freqs), torch.cos(step * freqs)]) for step in t]\n"
           "    return torch.stack(rows)", TE, shows="a Python loop over the timesteps"),
    Mutant("time MLP without SiLU", "time_embedding", "            nn.SiLU(),\n", "", TE,
           shows="mlp.2 receives mlp.0's output; the contract feeds it SiLU(mlp.0's output)"),
    Mutant("time MLP's second Linear to dim", "time_embedding",
           "nn.Linear(dim * 4, dim * 4)", "nn.Linear(dim * 4, dim)", TE,
           shows="different shape: mlp.2.weight is"),
    # ResBlock
    Mutant("a learnable scale of its own on the skip, starting at 1 (the same numbers)", "res_block",
           "self.norm2 = nn.GroupNorm(math.gcd(8, out_channels), out_channels)",
           "self.norm2 = nn.GroupNorm(math.gcd(8, out_channels), out_channels)\n"
           "        self.skip_scale = nn.Parameter(torch.ones(()))", RB,
           also=(("return h + self.skip(x)", "return h + self.skip_scale * self.skip(x)"),),
           shows="Learn no parameters beyond the contract's (yours: skip_scale)", fails=("ResBlock: structure",)),
    Mutant("GroupNorms with diffusers' eps=1e-6 (the docstring keeps torch's default)", "res_block",
           "self.norm1 = nn.GroupNorm(math.gcd(8, in_channels), in_channels)",
           "self.norm1 = nn.GroupNorm(math.gcd(8, in_channels), in_channels, eps=1e-6)", RB,
           also=(("self.norm2 = nn.GroupNorm(math.gcd(8, out_channels), out_channels)",
                  "self.norm2 = nn.GroupNorm(math.gcd(8, out_channels), out_channels, eps=1e-6)"),),
           shows="with eps 1e-06; the contract's has 1e-05"),
    Mutant("relu after conv1 instead of before", "res_block",
           "h = self.conv1(torch.relu(self.norm1(x)))", "h = torch.relu(self.conv1(self.norm1(x)))", RB,
           shows="conv1 receives norm1's output; the contract feeds it relu(norm1(x))"),
    Mutant("no time injection", "res_block", _TIME, "h = h", RB,
           shows="time_mlp is never called"),
    Mutant("time added after conv2", "res_block", _TIME, "h = h",
           RB, also=(("return h + self.skip(x)", "return h + self.time_mlp(t_emb)[:, :, None, None] + self.skip(x)"),),
           shows="the time embedding is added after conv2"),
    Mutant("no residual", "res_block", "return h + self.skip(x)", "return h", RB,
           shows="your output is conv2's output alone: skip(x) is not added"),
    Mutant("residual adds skip(norm1(x))", "res_block",
           "return h + self.skip(x)", "return h + self.skip(self.norm1(x))", RB,
           shows="skip receives norm1's output; the contract feeds it x"),
    Mutant("skip conv even when in == out", "res_block", "if in_channels != out_channels:", "if True:", RB,
           shows="yours has, and the contract lacks: skip.weight"),
    Mutant("norm2 where norm1 belongs", "res_block",
           "h = self.conv1(torch.relu(self.norm1(x)))", "h = self.conv1(torch.relu(self.norm2(x)))", RB,
           shows="norm1 is never called"),
    Mutant("residual added in place into x (skip is Identity)", "res_block",
           "return h + self.skip(x)", "return self.skip(x).add_(h)", RB,
           shows="forward modified its input x in place"),
    Mutant("time embedding not broadcast over H, W", "res_block", _TIME, "h = h + self.time_mlp(t_emb)", RB,
           shows="Broadcast the time embedding over H and W: time_mlp(t_emb)[:, :, None, None]"),
    Mutant("ResBlock's conv1 an nn.LazyConv2d (the docstring's layers are nn.Conv2d)", "res_block",
           "self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)",
           "self.conv1 = nn.LazyConv2d(out_channels, 3, padding=1)", RB,
           shows="a lazy parameter", fails=("ResBlock: structure",)),
    # check.py's structure check sees the norms at 9 and 16 channels, where gcd(32, C) differs (red team)
    Mutant("ResBlock's norms with gcd(32, C) groups (diffusers' 32)", "res_block",
           "self.norm1 = nn.GroupNorm(math.gcd(8, in_channels), in_channels)",
           "self.norm1 = nn.GroupNorm(math.gcd(32, in_channels), in_channels)", RB,
           also=(("self.norm2 = nn.GroupNorm(math.gcd(8, out_channels), out_channels)",
                  "self.norm2 = nn.GroupNorm(math.gcd(32, out_channels), out_channels)"),),
           shows="the number of groups 16; the contract's has 8",
           fails=("ResBlock: structure", "ResBlock: forward_matches", "ResBlock: gradients",
                  "Integration: matches_reference")),
    # a norm that normalises each channel on its own removes the time offset: that is the group count's
    # mistake (structure), not a time that is ignored (red team)
    Mutant("ResBlock's norms with one group per channel", "res_block",
           "self.norm1 = nn.GroupNorm(math.gcd(8, in_channels), in_channels)",
           "self.norm1 = nn.GroupNorm(in_channels, in_channels)", RB,
           also=(("self.norm2 = nn.GroupNorm(math.gcd(8, out_channels), out_channels)",
                  "self.norm2 = nn.GroupNorm(out_channels, out_channels)"),),
           shows="the number of groups", fails=("ResBlock: structure", "ResBlock: forward_matches", "ResBlock: gradients",
                                                "Integration: matches_reference")),
    Mutant("chapter's GroupNorm(8, C) in ResBlock", "res_block",
           "self.norm1 = nn.GroupNorm(math.gcd(8, in_channels), in_channels)",
           "self.norm1 = nn.GroupNorm(8, in_channels)", RB,
           shows="channels into 8 groups. Use nn.GroupNorm(math.gcd(8, C), C)"),
    # DownBlock
    Mutant("returns (h, down(h))", "down_block", "return self.down(h), h", "return h, self.down(h)", DB,
           shows="the pair is in the wrong order"),
    Mutant("skip taken after downsampling", "down_block", "return self.down(h), h",
           "return self.down(h), self.down(h)", DB,
           shows="your skip output h is down(h)"),
    Mutant("downsampling conv with stride 1", "down_block", "self.down = nn.Conv2d(out_channels, out_channels, 3, stride=2",
           "self.down = nn.Conv2d(out_channels, out_channels, 3, stride=1", DB,
           shows="down is an nn.Conv2d with the stride (1, 1); the contract's has (2, 2)"),
    # UpBlock
    Mutant("concat order [skip, up(x)]", "up_block",
           "torch.cat([h, skip], dim=1)", "torch.cat([skip, h], dim=1)", UB,
           shows="the concatenation is reversed"),
    Mutant("chapter's ResBlock(out_channels * 2) ignores skip_channels", "up_block",
           "self.res = ResBlock(out_channels + skip_channels,", "self.res = ResBlock(out_channels * 2,", UB,
           shows="skip_channels=None means out_channels"),
    Mutant("upsampling ConvTranspose2d(kernel 2)", "up_block",
           "self.up = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)",
           "self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)", UB,
           shows="different shape: up.weight is"),
    Mutant("skip_channels defaults to in_channels", "up_block",
           "skip_channels = out_channels", "skip_channels = in_channels", UB,
           shows="skip_channels defaults to out_channels"),
    # SimpleUNet
    # the parameter count's hint explains the chapter's up1 erratum only where up1 is what differs (red team)
    Mutant("SimpleUNet's out conv 3x3", "unet", "self.out = nn.Conv2d(base_channels, out_channels, 1)",
           "self.out = nn.Conv2d(base_channels, out_channels, 3, padding=1)", UN, shows="Yours differ in out"),
    Mutant("chapter's up1 without skip_channels", "unet",
           ", skip_channels=base_channels * 2)", ")", UN,
           shows="pass skip_channels=2 * base_channels to up1"),
    Mutant("skips swapped between up1 and up2", "unet", "self.up1(h, skip2, t_emb)", "self.up1(h, skip1, t_emb)",
           UN, also=(("self.up2(h, skip1, t_emb)", "self.up2(h, skip2, t_emb)"),),
           shows="up1 concatenates with skip2 (from down2) and up2 with skip1 (from down1)"),
    Mutant("time_embed built with time_emb_dim", "unet",
           "TimeEmbedding(base_channels)", "TimeEmbedding(time_emb_dim)", UN,
           shows="time_embed = TimeEmbedding(base_channels)"),
    Mutant("bottleneck skipped in forward", "unet", "h = self.bottleneck(h2, t_emb)", "h = h2", UN,
           shows="bottleneck is never called"),
    # SelfAttention
    # check.py's structure check sees GroupNorm's groups at 9 and 16 channels, where these differ (red team)
    Mutant("SelfAttention's norm with one group per channel", "attention",
           "self.norm = nn.GroupNorm(math.gcd(8, channels), channels)", "self.norm = nn.GroupNorm(channels, channels)",
           SA, shows="norm is an nn.GroupNorm with the number of groups 9; the contract's has 1",
           fails=("SelfAttention: structure", "SelfAttention: forward_matches", "SelfAttention: gradients",
                  "SelfAttention: weights_match")),
    Mutant("SelfAttention's norm with gcd(32, C) groups", "attention",
           "self.norm = nn.GroupNorm(math.gcd(8, channels), channels)",
           "self.norm = nn.GroupNorm(math.gcd(32, channels), channels)",
           SA, shows="norm is an nn.GroupNorm with the number of groups 16; the contract's has 8",
           fails=("SelfAttention: structure", "SelfAttention: forward_matches", "SelfAttention: gradients",
                  "SelfAttention: weights_match")),
    Mutant("qkv without its bias (the docstring keeps torch's default)", "attention",
           "self.qkv = nn.Conv2d(channels, channels * 3, 1)", "self.qkv = nn.Conv2d(channels, channels * 3, 1, bias=False)",
           SA, shows="Keep the bias of qkv"),
    Mutant("softmax over the queries", "attention",
           "weights = torch.softmax(scores, dim=-1)", "weights = torch.softmax(scores, dim=1)", SA,
           shows="a softmax over the queries (dim=1)"),
    Mutant("scores not scaled", "attention", _SCALE, "scores = torch.matmul(q, k.transpose(-2, -1))", SA,
           shows="without the 1/sqrt(C) scaling"),
    Mutant("scores scaled by 1/C", "attention", _SCALE, "scores = torch.matmul(q, k.transpose(-2, -1)) / C", SA,
           shows="scaled by 1/C instead of 1/sqrt(C)"),
    Mutant("scores scaled by 1/sqrt(H*W)", "attention", _SCALE,
           "scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(H * W)", SA,
           shows="The mistake is in the attention weights: softmax(q k^T / sqrt(C))"),
    Mutant("attention without the residual", "attention", "out = x + self.out(attn)", "out = self.out(attn)", SA,
           shows="out(attn) alone: the residual x is not added"),
    Mutant("residual adds norm(x)", "attention", "out = x + self.out(attn)", "out = self.norm(x) + self.out(attn)", SA,
           shows="the residual adds norm(x), not the block's input x"),
    Mutant("positions numbered column by column (the output right, the weights permuted)", "attention",
           **_tokens("{0} = {0}.transpose(2, 3).reshape(B, C, H * W).transpose(1, 2)",
                     "attn = torch.matmul(weights, v).transpose(1, 2).reshape(B, C, W, H).transpose(2, 3)"),
           component=SA, shows="number the positions column by column"),
    Mutant("return_weights named need_weights (nn.MultiheadAttention's name)", "attention",
           "def forward(self, x, return_weights=False):", "def forward(self, x, need_weights=False):", SA,
           also=(("if return_weights:", "if need_weights:"),),
           shows="must accept the keyword argument return_weights"),
    Mutant("returns the weights transposed", "attention",
           "return out, weights", "return out, weights.transpose(1, 2)", SA,
           shows="Your attention weights are transposed"),
    Mutant("back to (B, C, H, W) without transposing", "attention", _BACK,
           "attn = torch.matmul(weights, v).reshape(B, C, H, W)", SA,
           shows="reshaped to (B, C, H, W) without transposing it back first"),
    Mutant("(B, C, HW) reshaped to (B, HW, C) instead of transposed", "attention",
           **_tokens("{0} = {0}.reshape(B, H * W, C)"), component=SA, shows="reshaped straight to (B, H*W, C)"),
    Mutant("attention across the whole batch", "attention",
           **_tokens("{0} = {0}.permute(0, 2, 3, 1).reshape(1, B * H * W, C)",
                     "attn = torch.matmul(weights, v).reshape(B, H, W, C).permute(0, 3, 1, 2)"),
           component=SA, shows="taken across the whole batch"),
    # AttnResBlock
    Mutant("attention before the ResBlock", "attention",
           "return self.attn(self.res(x, t_emb))", "return self.res(self.attn(x), t_emb)", AR,
           shows="res's input 1 is attn's output"),
    Mutant("AttnResBlock without attention", "attention",
           "return self.attn(self.res(x, t_emb))", "return self.res(x, t_emb)", AR,
           shows="attn is never called"),
    Mutant("extra residual around attention", "attention",
           "return self.attn(self.res(x, t_emb))", "h = self.res(x, t_emb)\n        return h + self.attn(h)", AR,
           shows="res's output + attn's output"),
]

EQUIVALENTS = [
    Mutant("SimpleUNet also holds its blocks in ModuleLists to loop over (no parameter more)", "unet",
           "self.out = nn.Conv2d(base_channels, out_channels, 1)",
           "self.out = nn.Conv2d(base_channels, out_channels, 1)\n"
           "        self.downs = nn.ModuleList([self.down1, self.down2])\n"
           "        self.ups = nn.ModuleList([self.up1, self.up2])", None),
    Mutant("timesteps read detached (nothing differentiates through them)", "time_embedding",
           "t = torch.as_tensor(t)  #", "t = torch.as_tensor(t).detach()  #", None),
    Mutant("attention with einsum", "attention", _SCALE,
           "scores = torch.einsum('bic,bjc->bij', q, k) / math.sqrt(C)", None),
    WholeFiles("attention with F.scaled_dot_product_attention", "sdpa"),
    Mutant("flatten(2).permute, then permute and unflatten back", "attention",
           "q = q.reshape(B, C, H * W).transpose(1, 2)", "q = q.flatten(2).permute(0, 2, 1)", None,
           also=(("k = k.reshape(B, C, H * W).transpose(1, 2)", "k = k.flatten(2).permute(0, 2, 1)"),
                 ("v = v.reshape(B, C, H * W).transpose(1, 2)", "v = v.flatten(2).permute(0, 2, 1)"),
                 (_BACK, "attn = torch.matmul(weights, v).permute(0, 2, 1).unflatten(2, (H, W))"),
                 ("out = x + self.out(attn)", "out = self.out(attn)\n        out += x"))),
    Mutant("bmm, C ** 0.5 and the chapter's view back", "attention", _SCALE,
           "scores = torch.bmm(q, k.transpose(1, 2)) * C ** -0.5", None,
           also=(("v = v.reshape(B, C, H * W)", "v = v.view(B, C, H * W)"),
                 (_BACK, "attn = torch.bmm(weights, v).transpose(1, 2).view(B, C, H, W)"))),
    Mutant("frequencies as 10000 ** (-i / (half - 1))", "time_embedding",
           "freqs = torch.exp(torch.arange(half, device=t.device) * -scale)",
           "freqs = 10000 ** (-torch.arange(half, device=t.device) / (half - 1))", None),
    Mutant("frequencies from a list of floats (a loop that never touches the timesteps)", "time_embedding",
           "freqs = torch.exp(torch.arange(half, device=t.device) * -scale)",
           "freqs = torch.tensor([math.exp(-i * scale) for i in range(half)], device=t.device)", None),
    Mutant("sines and cosines stacked on dim 1, then flattened", "time_embedding",
           "torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)",
           "torch.stack([torch.sin(angles), torch.cos(angles)], dim=1).flatten(1)", None),
    Mutant("MLP called layer by layer with F.silu", "time_embedding",
           "return self.mlp(sinusoidal_embedding(t, self.dim))",
           "h = self.mlp[0](sinusoidal_embedding(t, self.dim))\n"
           "        return self.mlp[2](torch.nn.functional.silu(h))", None),
    WholeFiles("ResBlock with nn.ReLU modules, padding='same', skip first", "res_block_modules"),
    Mutant("in-place relu on the norm's output", "res_block",
           "h = self.conv1(torch.relu(self.norm1(x)))", "h = self.conv1(torch.relu_(self.norm1(x)))", None,
           also=(("self.conv2(torch.relu(self.norm2(h)))", "self.conv2(self.norm2(h).relu_())"),)),
    Mutant("time embedding broadcast with unsqueeze", "res_block", _TIME,
           "h += self.time_mlp(t_emb).unsqueeze(-1).unsqueeze(-1)", None),
    Mutant("UpBlock with `skip_channels or out_channels` and a tuple concat", "up_block",
           "if skip_channels is None:\n            skip_channels = out_channels\n", "skip_channels = skip_channels or out_channels\n",
           None, also=(("torch.cat([h, skip], dim=1)", "torch.cat((h, skip), 1)"),)),
]

# The homework tasks (analysis.py)
ST, SK, TS, AM, PB = "ShapeTrace", "SkipAblation", "TimestepEmbeddings", "AttentionMap", "ParameterBreakdown"
_HOOK = "handles.append(module.register_forward_hook(record_output(name)))"
_INDEX = "return weights[:, row * width + col].reshape(-1, height, width)"
_UNIT = "unit = embeddings / embeddings.norm(dim=1, keepdim=True)"
_COUNT = "return {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}"

MUTANTS += [
    # ShapeTrace
    Mutant("shape trace records input shapes (pre-hooks)", "analysis", _HOOK,
           "handles.append(module.register_forward_pre_hook(lambda m, inputs, name=name: "
           "trace.append((name, tuple(inputs[0].shape)))))", ST,
           shows='a forward hook, not a pre-hook'),
    Mutant("shape trace without the concatenations", "analysis", "if isinstance(module, UpBlock):", "if False:", ST,
           shows="no entry 'up1.concat'"),
    Mutant("shape trace of the top-level children only", "analysis",
           "for name, module in model.named_modules():", "for name, module in model.named_children():", ST,
           shows='missing [time_embed.mlp.0'),
    Mutant("shape trace keeps only a tuple's first element", "analysis",
           'trace.extend((f"{name}[{i}]", tuple(o.shape)) for i, o in enumerate(output))',
           "trace.append((name, tuple(output[0].shape)))", ST,
           shows='missing [down1[0], down1[1]'),
    Mutant("shape trace names entries by the module's class", "analysis", _HOOK,
           "handles.append(module.register_forward_hook(record_output(type(module).__name__)))", ST,
           shows="not by its class", fails=("ShapeTrace: names_in_order",)),
    # SkipAblation
    Mutant("NoSkipUNet passes skip2 through", "analysis", "torch.zeros_like(skip2)", "skip2", SK,
           shows='Run the encoder as usual, then give up1 and up2'),
    Mutant("the ablation's second model still has skips", "analysis",
           "without_skips = NoSkipUNet(1, 1, BASE_CHANNELS)", "without_skips = SimpleUNet(1, 1, BASE_CHANNELS)", SK,
           shows="'without_skips' is the NoSkipUNet"),
    Mutant("the model without skips keeps its own initial weights", "analysis",
           "        without_skips.load_state_dict(with_skips.state_dict())\n", "", SK,
           shows='the two models started from different weights'),
    Mutant("batches from the global generator, not one seeded per model", "analysis",
           "batch_order = torch.Generator().manual_seed(seed)", "batch_order = None", SK,
           shows='the two models saw different batches at step 1'),
    Mutant("no optimizer step", "analysis", "                optimizer.step()\n", "", SK,
           shows='no optimizer step updated its parameters'),
    Mutant("PSNR with a peak of 255", "analysis", '"psnr": 10 * math.log10(1 / mse)', '"psnr": 10 * math.log10(255 ** 2 / mse)',
           SK,
           shows='10 * log10(1 / mse)'),
    Mutant("the model without skips trains half as long", "analysis", "for _ in range(steps):",
           'for _ in range(steps if name == "with_skips" else steps // 2):', SK,
           shows='the model without skips trained for'),
    Mutant("skip_ablation ignores its steps argument", "analysis", "for _ in range(steps):", "for _ in range(STEPS):",
           SK,
           shows='Train for the `steps` you are given'),
    # TimestepEmbeddings
    Mutant("similarity of raw dot products", "analysis", _UNIT, "unit = embeddings", TS,
           shows='divide each row by its own length'),
    Mutant("similarity normalised down the columns", "analysis", _UNIT,
           "unit = embeddings / embeddings.norm(dim=0, keepdim=True)", TS,
           shows='divide each row by its own length'),
    Mutant("timestep embeddings transposed (dim, T)", "analysis",
           "return sinusoidal_embedding(torch.as_tensor(timesteps).reshape(-1), dim)",
           "return sinusoidal_embedding(torch.as_tensor(timesteps).reshape(-1), dim).T", TS,
           shows='Row i is sinusoidal_embedding of timesteps[i]'),
    # AttentionMap
    Mutant("attention map from the query's column", "analysis", _INDEX,
           "return weights[:, :, row * width + col].reshape(-1, height, width)", AM,
           shows='the column of the query'),
    Mutant("attention map at position col * H + row", "analysis", _INDEX,
           "return weights[:, col * height + row].reshape(-1, height, width)", AM,
           shows='position col * H + row'),
    # raises where row * H + col is past H * W (a tall map): the error's hint names the numbering
    Mutant("attention map at position row * H + col", "analysis", _INDEX,
           "return weights[:, row * height + col].reshape(-1, height, width)", AM,
           shows="Is the row multiplied by the height?"),
    Mutant("attention map laid out (W, H)", "analysis", _INDEX,
           "return weights[:, row * width + col].reshape(-1, width, height)", AM,
           shows='laid out like the image'),
    # ParameterBreakdown
    Mutant("breakdown counts parameter tensors", "analysis", _COUNT,
           "return {name: len(list(child.parameters())) for name, child in model.named_children()}", PB,
           shows='Count parameter elements (p.numel())'),
    Mutant("breakdown of every submodule at every depth", "analysis", _COUNT,
           "return {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_modules()}", PB,
           shows='One entry per direct child'),
    Mutant("breakdown counts trainable parameters only", "analysis", _COUNT,
           "return {name: sum(p.numel() for p in child.parameters() if p.requires_grad)\n"
           "            for name, child in model.named_children()}", PB,
           shows='frozen ones too'),
    Mutant("breakdown counts the state_dict (buffers too)", "analysis", _COUNT,
           "return {name: sum(t.numel() for t in child.state_dict().values()) for name, child in model.named_children()}",
           PB, shows='state_dict() holds buffers too'),
    Mutant("breakdown leaves out parts without parameters", "analysis", _COUNT,
           "return {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()\n"
           "            if any(True for _ in child.parameters())}", PB,
           shows='Every child gets an entry, also one without parameters'),
    Mutant("shares in percent", "analysis", "return {name: count / total for", "return {name: 100 * count / total for",
           PB,
           shows='Fractions that sum to 1, not percentages'),
    # red team: no released case had a part without parameters, so leaving them out kept full marks
    Mutant("shares leave out parts without parameters", "analysis",
           "return {name: count / total for name, count in breakdown.items()}",
           "return {name: count / total for name, count in breakdown.items() if count}", PB,
           shows='also a part without parameters', fails=("ParameterBreakdown: shares_match",)),
]

MUTANTS += [
    Mutant("shape_trace returns dict(trace) (the pairs, in order, as a dict)", "analysis",
           "    return trace\n", "    return dict(trace)\n", "ShapeTrace",
           shows="got a dict", fails=("ShapeTrace: names_in_order",)),
    Mutant("skip_ablation's losses returned as one tensor (the same numbers)", "analysis",
           '"losses": losses,', '"losses": torch.tensor(losses),', "SkipAblation",
           shows="must be a list of floats", fails=("SkipAblation: experiment_budget",)),
    Mutant("shape_trace keeps its list between calls (trace=[] as a default)", "analysis",
           "def shape_trace(model, x, t):", "def shape_trace(model, x, t, trace=[]):", "ShapeTrace",
           also=(("    trace = []\n", ""),),
           shows="the same list", fails=("ShapeTrace: leaves_model_as_found",)),
    Mutant("parameter_breakdown sorted by name, not in named_children() order", "analysis",
           "for name, child in model.named_children()}",
           "for name, child in sorted(model.named_children(), key=lambda pair: pair[0])}", "ParameterBreakdown",
           shows="in another order", fails=("ParameterBreakdown: breakdown_matches",)),
    Mutant("shape_trace records the model itself (named '')", "analysis",
           "            if not name:\n                continue\n", "", "ShapeTrace",
           shows="The entry named '' is the model itself", fails=("ShapeTrace: names_in_order",)),
    Mutant("attention_map returns the map as nested lists (.tolist())", "analysis", _INDEX,
           "return weights[:, row * width + col].reshape(-1, height, width).tolist()", "AttentionMap",
           shows="got a list", fails=("AttentionMap: maps_sum_to_one",)),
    Mutant("skip_ablation returns all the images as 'images', not the held-out ones", "analysis",
           '"images": held_out}', '"images": images}', "SkipAblation",
           shows="the held-out images are not the last", fails=("SkipAblation: experiment_metrics",)),
    Mutant("skip_ablation splits the images at random, not first 64 / last 16 (one data mistake)", "analysis",
           "        train, held_out = images[:TRAIN_IMAGES], images[TRAIN_IMAGES:]\n",
           "        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))\n"
           "        train, held_out = images[order[:TRAIN_IMAGES]], images[order[TRAIN_IMAGES:]]\n", "SkipAblation",
           shows="the held-out images are not the last", fails=("SkipAblation: experiment_metrics",)),
    Mutant("skip_ablation with a cosine learning-rate schedule over its steps (one mistake: the schedule)", "analysis",
           "            optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)\n",
           "            optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)\n"
           "            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)\n", "SkipAblation",
           also=(("                optimizer.step()\n", "                optimizer.step()\n                scheduler.step()\n"),),
           shows="no schedule", fails=("SkipAblation: training_task",)),
    Mutant("skip_ablation's batch generator seeded with 0, not with seed", "analysis",
           "batch_order = torch.Generator().manual_seed(seed)", "batch_order = torch.Generator().manual_seed(0)",
           "SkipAblation", shows="does not follow the seed", fails=("SkipAblation: batches_drawn_with_replacement",)),
    Mutant("skip_ablation gives back STEPS, not the steps it was called with", "analysis",
           '{"steps": steps, "seed": seed, "images"', '{"steps": STEPS, "seed": seed, "images"', "SkipAblation",
           shows="the rule is to give back the steps and seed", fails=("SkipAblation: experiment_metrics",)),
]

EQUIVALENTS += [
    # the docstring's timesteps are 0..999: a check that changes one sample draws another such timestep
    Mutant("sinusoidal_embedding refuses negative timesteps", "time_embedding",
           "    t = t.reshape(1) if t.dim() == 0 else t\n",
           "    t = t.reshape(1) if t.dim() == 0 else t\n    if (t < 0).any():\n"
           "        raise ValueError(\"timesteps must be non-negative\")\n", None),
    # another order of summing: float32 noise around a gradient GroupNorm makes exactly 0 (t_emb, one channel per group)
    Mutant("ResBlock in channels_last memory format", "res_block", "        h = self.conv1(",
           "        x = x.contiguous(memory_format=torch.channels_last)\n        h = self.conv1(", None),
    Mutant("similarity with F.normalize", "analysis", _UNIT, "unit = F.normalize(embeddings, dim=1)", None),
    # red team: float32's division is count / total to ~1e-7 (the share was held to 1e-9)
    Mutant("shares computed as a float32 tensor", "analysis",
           "return {name: count / total for name, count in breakdown.items()}",
           "shares = torch.tensor(list(breakdown.values())) / total\n"
           "    return dict(zip(breakdown, shares.tolist()))", None),
    # a setting a call leaves changed is that call's behaviour; the component's later questions start without it
    Mutant("skip_ablation leaves torch's default dtype at float64 when it returns", "analysis",
           "        return results\n", "        torch.set_default_dtype(torch.float64)\n        return results\n", None),
    Mutant("attention map from unflatten and explicit indexing", "analysis", _INDEX,
           "return weights.unflatten(-1, (height, width))[:, row * width + col]", None),
    Mutant("skip_ablation with a hand-written MSE and separate batch draws", "analysis",
           "loss = F.mse_loss(model(batch, timesteps), batch)",
           "loss = ((model(batch, timesteps) - batch) ** 2).mean()", None,
           also=(("mse = F.mse_loss(reconstructions, held_out).item()",
                  "mse = float(((reconstructions - held_out) ** 2).mean())"),)),
    # numpy's numbers are numbers and its arrays of numbers tensors, to the student and to the grader
    Mutant("numbers and arrays from numpy: a np.float32 MSE, .numpy() outputs, np.prod counts", "analysis",
           "import torch.nn.functional as F\n", "import torch.nn.functional as F\nimport numpy as np\n", None,
           also=(("mse = F.mse_loss(reconstructions, held_out).item()",
                  "mse = np.mean((reconstructions - held_out).numpy() ** 2)"),
                 ('"reconstructions": reconstructions}', '"reconstructions": reconstructions.numpy()}'),
                 (_INDEX, _INDEX + ".numpy()"),
                 ("return sinusoidal_embedding(torch.as_tensor(timesteps).reshape(-1), dim)",
                  "return sinusoidal_embedding(torch.as_tensor(timesteps).reshape(-1), dim).numpy()"),
                 (_COUNT, _COUNT.replace("p.numel()", "np.prod(p.shape)")))),
    # a notebook habit: the grader puts gradients back on after the import (with a note)
    Mutant("gradients switched off at the top of a file", "time_embedding",
           "import torch.nn as nn\n", "import torch.nn as nn\n\ntorch.set_grad_enabled(False)\n", None),
]

# skip_ablation as students write it: the watcher reads the models' calls however they are made
_TRAIN_FORWARD = "loss = F.mse_loss(model(batch, timesteps), batch)"
_EVALUATION = "reconstructions = model(held_out, torch.zeros(len(held_out), dtype=torch.long))"
_TRAINING_LOOP = "            losses = []\n            for _ in range(steps):\n"
_IMAGES = "        images = shape_images(TRAIN_IMAGES + HELD_OUT_IMAGES, IMAGE_SIZE, seed)\n"
_FLOAT64 = ((_IMAGES, _IMAGES.replace("seed)\n", "seed).double()\n")),
            ("with_skips = SimpleUNet(1, 1, BASE_CHANNELS)", "with_skips = SimpleUNet(1, 1, BASE_CHANNELS).double()"),
            ("without_skips = NoSkipUNet(1, 1, BASE_CHANNELS)",
             "without_skips = NoSkipUNet(1, 1, BASE_CHANNELS).double()"),
            ("timesteps = torch.zeros(BATCH_SIZE, dtype=torch.long)", "timesteps = torch.zeros(BATCH_SIZE, dtype=torch.float64)"))
_FLOAT64_EVALUATION = ("torch.zeros(len(held_out), dtype=torch.long))", "torch.zeros(len(held_out), dtype=torch.float64))")

EQUIVALENTS += [
    Mutant("skip_ablation passes the timesteps by name, and the evaluation's images and timesteps too", "analysis",
           _TRAIN_FORWARD, "loss = F.mse_loss(model(batch, t=timesteps), batch)", None,
           also=((_EVALUATION, "reconstructions = model(x=held_out, t=torch.zeros(len(held_out), dtype=torch.long))"),)),
    Mutant("skip_ablation trains in float64 (images, models and timesteps)", "analysis", *_FLOAT64[0], None,
           also=(*_FLOAT64[1:], _FLOAT64_EVALUATION)),
    Mutant("skip_ablation calls model.forward(batch, timesteps)", "analysis",
           _TRAIN_FORWARD, "loss = F.mse_loss(model.forward(batch, timesteps), batch)", None),
    Mutant("skip_ablation checks the output's shape before training and reports a training-set MSE after it",
           "analysis", _TRAINING_LOOP,
           "            losses = []\n"
           "            assert model(train[:2], torch.zeros(2, dtype=torch.long)).shape == train[:2].shape\n"
           "            for _ in range(steps):\n", None,
           also=(("            with torch.no_grad():  # evaluation: no gradients\n",
                  "            train_mse = F.mse_loss(model(train, torch.zeros(len(train), dtype=torch.long)), train).item()\n"
                  "            with torch.no_grad():  # evaluation: no gradients\n"),)),
]

MUTANTS += [
    Mutant("skip_ablation rescales the images to [-1, 1] (one data mistake)", "analysis",
           _IMAGES, _IMAGES.replace("seed)\n", "seed) * 2 - 1\n"), "SkipAblation",
           shows="none of shape_images' images", fails=("SkipAblation: same_batches",)),
    Mutant("skip_ablation trained in float64 evaluates with gradients on", "analysis", *_FLOAT64[0], "SkipAblation",
           also=(*_FLOAT64[1:], _FLOAT64_EVALUATION,
                 ("            with torch.no_grad():  # evaluation: no gradients\n"
                  "                reconstructions = model(", "            if True:\n                reconstructions = model(")),
           shows="reconstructed with gradients on", fails=("SkipAblation: experiment_metrics",)),
    Mutant("skip_ablation gives timesteps 1 by name", "analysis", _TRAIN_FORWARD,
           "loss = F.mse_loss(model(batch, t=timesteps + 1), batch)", "SkipAblation",
           shows="timesteps other than 0", fails=("SkipAblation: training_task",)),
    Mutant("skip_ablation calls model.forward and trains with SGD", "analysis", _TRAIN_FORWARD,
           "loss = F.mse_loss(model.forward(batch, timesteps), batch)", "SkipAblation",
           also=(("optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)",
                  "optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE * 20, momentum=0.9)"),),
           shows="the rule is Adam", fails=("SkipAblation: training_task",)),
]
