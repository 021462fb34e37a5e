"""Reading order of recognised boxes: lines by vertical overlap, paragraphs by gaps."""

from __future__ import annotations

from pipeline.localapi.ocr import layout_markdown


def _box(left: float, top: float, right: float, bottom: float) -> list[list[float]]:
    return [[left, top], [right, top], [right, bottom], [left, bottom]]


def test_words_of_a_line_join_left_to_right() -> None:
    """Boxes that overlap vertically form one line, ordered by x."""
    boxes = [_box(300, 102, 400, 130), _box(10, 100, 120, 128), _box(150, 98, 280, 126)]
    assert layout_markdown(boxes, ["world", "hello", "big"]) == "hello big world"


def test_lines_and_paragraphs() -> None:
    """Close lines join with a newline; a gap above 0.8 line heights starts a paragraph."""
    boxes = [
        _box(10, 100, 500, 130),
        _box(10, 140, 480, 170),
        _box(10, 230, 500, 260),
    ]
    markdown = layout_markdown(boxes, ["first line", "second line", "new paragraph"])
    assert markdown == "first line\nsecond line\n\nnew paragraph"


def test_blank_texts_are_dropped() -> None:
    """Boxes whose text is whitespace contribute nothing."""
    assert layout_markdown([_box(0, 0, 10, 10)], ["  "]) == ""
    assert layout_markdown([], []) == ""
