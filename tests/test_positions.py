"""Positions and edits as LSP clients count them."""

from __future__ import annotations

from autofix.positions import Document, split_lines, units
from lsp_client import apply_edits


def test_lines_break_where_python_and_editors_break_them():
    text = "a\x0cb\r\nc\rd\u2028e\nf"
    assert split_lines(text) == ["a\x0cb\r\n", "c\r", "d\u2028e\n", "f"]
    assert len(text.splitlines()) == 6  # what str.splitlines would wrongly give


def test_columns_in_each_encoding():
    assert [units("é😀x", e) for e in ("utf-8", "utf-16", "utf-32")] == [7, 4, 3]
    document = Document("s = '😀'; call\n", "utf-16")
    assert document.position(1, 10).character == 10  # code point 9 after 😀 is unit 10


def test_the_end_of_a_file_with_or_without_a_final_line_break():
    assert Document("a\nb\n", "utf-16").end().line == 2
    end = Document("a\nbé", "utf-8").end()
    assert (end.line, end.character) == (1, 3)


def point(position):
    return {"line": position.line, "character": position.character}


def test_edits_reproduce_the_new_text_from_the_old_one():
    cases = [
        ("a\nb\nc\n", "a\nB\nc\n"),
        ("a\nb", "a\nb()"),
        ("a", "a\nb"),
        ("x\n", "y\nx\nz\n"),
        ("a\r\nb\r\n", "a\r\nnew\r\nb\r\n"),
        ("one\ntwo\nthree\n", "three\n"),
        ("", "x\n"),
    ]
    for old, new in cases:
        edits = [
            {"range": {"start": point(e.range.start), "end": point(e.range.end)}, "newText": e.new_text}
            for e in Document(old, "utf-16").edits_to(new)
        ]
        assert apply_edits(old, edits) == new, (old, new, edits)
