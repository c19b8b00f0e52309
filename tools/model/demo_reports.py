"""Report templates of the demo model, and the parser that reads a finding back from generated text.

Each finding has one template, so the words that name the side, lobe and size can come only from the
image. The parser is the inverse used to score the exported package on held-out phantoms.
"""

from __future__ import annotations

import re

from demo_phantom import LESION_SIZES_MM, Finding

NORMAL_REPORT = "Findings: The lungs are clear. There is no pleural effusion.\nImpression: No acute abnormality."


def lesion_word(size_class: int) -> str:
    # The templates call a lung lesion over 30 mm a mass and a smaller one a nodule, as chest CT reports usually do.
    return "mass" if LESION_SIZES_MM[size_class] > 30 else "nodule"


def report_text(finding: Finding) -> str:
    if finding.kind == "normal":
        return NORMAL_REPORT
    if finding.kind == "effusion":
        return (
            f"Findings: There is a {finding.side} pleural effusion. The lungs are otherwise clear.\n"
            f"Impression: {finding.side.capitalize()} pleural effusion."
        )
    size = LESION_SIZES_MM[finding.size_class]
    word = lesion_word(finding.size_class)
    return (
        f"Findings: There is a {size} mm {word} in the {finding.side} {finding.lobe} lobe. There is no pleural effusion.\n"
        f"Impression: {size} mm {word} in the {finding.side} {finding.lobe} lobe."
    )


def corpus() -> list[str]:
    """Returns every report the templates can produce, for training the tokenizer."""
    texts = [NORMAL_REPORT]
    for side in ("right", "left"):
        texts.append(report_text(Finding("effusion", side=side)))
        for lobe in ("upper", "lower"):
            for size_class in range(len(LESION_SIZES_MM)):
                texts.append(report_text(Finding("lesion", side=side, lobe=lobe, size_class=size_class)))
    return texts


_LESION = re.compile(r"(\d+) mm (?:nodule|mass) in the (right|left) (upper|lower) lobe")
_EFFUSION = re.compile(r"a (right|left) pleural effusion")


def parse_report(text: str) -> dict:
    """Reads kind, side, lobe and size from the Findings sentence; kind is "unparsed" when none matches."""
    lesion = _LESION.search(text)
    if lesion:
        return {"kind": "lesion", "side": lesion.group(2), "lobe": lesion.group(3), "size_mm": int(lesion.group(1))}
    effusion = _EFFUSION.search(text)
    if effusion:
        return {"kind": "effusion", "side": effusion.group(1)}
    # The service puts a notice line before the report of a model not declared for clinical use.
    start = text.find("Findings:")
    if start >= 0 and text[start:].strip() == NORMAL_REPORT:
        return {"kind": "normal"}
    return {"kind": "unparsed"}
