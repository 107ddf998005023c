"""The bank of known submissions: real mistakes (each must lose points on exactly its component)
and correct-but-different implementations (each must get full marks).

A mutant is the reference with one textual edit, so each entry reads as the mistake itself.
"""
from dataclasses import dataclass
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions" / "unet"


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str
    find: str
    replace: str
    component: str | None  # the component that must lose points; None: correct, full marks

    def replacements(self) -> dict[str, str]:
        source = (SOLUTIONS / f"{self.module}.py").read_text()
        count = source.count(self.find)
        if count != 1:
            raise AssertionError(f"mutant {self.name!r}: {self.find!r} occurs {count} times in {self.module}.py")
        return {self.module: source.replace(self.find, self.replace)}


MUTANTS = [
    Mutant("softmax over the queries", "attention",
           "weights = torch.softmax(scores, dim=-1)", "weights = torch.softmax(scores, dim=1)", "SelfAttention"),
    Mutant("chapter's GroupNorm(8, C) in ResBlock", "res_block",
           "self.norm1 = nn.GroupNorm(math.gcd(8, in_channels), in_channels)",
           "self.norm1 = nn.GroupNorm(8, in_channels)", "ResBlock"),
]

EQUIVALENTS = [
    Mutant("attention with einsum", "attention",
           "scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(C)",
           "scores = torch.einsum('bic,bjc->bij', q, k) / math.sqrt(C)", None),
]
