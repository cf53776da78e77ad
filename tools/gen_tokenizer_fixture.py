"""gen_tokenizer_fixture.py — writes tests/fixtures/tokenizer_cases.fix, the reference that
tests/test_tokenizer.c checks src/io/tokenizer.c against: HF `tokenizers` ids for a set of
texts (encode with add_special_tokens=False) and HF decodes of chosen id sequences, some of
which split a multi-byte character so that the U+FFFD replacement behaviour is pinned.

Usage: python tools/gen_tokenizer_fixture.py [models/tiny.en] [tests/fixtures/tokenizer_cases.fix]
"""
import os
import sys

import numpy as np
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import write_fixture  # noqa: E402

TEXTS = [
    "",
    " ",
    "Hello, world!",
    " And so, my fellow Americans: ask not what your country can do for you.",
    "I'm sure they'll say it's fine; we've done what you'd've done, haven't we?",
    "IT'S LOUD. It'S mixed 'quotes' and \"double\" ones...",
    "Numbers: 1234567890, 3.14159, -42, 1,000,000 and 2nd/3rd 100%.",
    "multiple   spaces    between  words",
    "line one\nline two\n\nline four\r\nwindows",
    "tabs\tand\t\tmore\ttabs",
    "   leading whitespace",
    "trailing whitespace   ",
    "\n\n  mixed \t\n whitespace \t ",
    "Ça va? Déjà vu à l'hôtel, très élégant — naïve façade.",
    "Größe, Übermaß, Straße und Äpfel für Müller.",
    "我们今天去公园散步，天气很好。",
    "日本語のテキストです。カタカナとひらがな、漢字。",
    "안녕하세요, 만나서 반갑습니다.",
    "مرحبا بالعالم، كيف حالك؟",
    "Привет, мир! Как дела?",
    "Emoji 😀🎉 and family 👨‍👩‍👧‍👦 and flags 🇫🇷🇩🇪 and skin 👍🏽!",
    "Combining: e\u0301 a\u0300 n\u0303 o\u0308\u0304 and Zalgo z\u0351\u0352\u0353o",
    "<|en|> hello",
    "<|startoftranscript|><|en|><|transcribe|><|notimestamps|> text<|endoftext|>",
    "<|0.00|> not a token <|en |>",
    "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "a" * 300,
    "!!!???...,,,;;;:::---",
    "email@example.com https://example.org/path?q=1&r=2#frag",
    "C++ code: int main(void) { return 0; }",
    "'s't're've'm'll'd",
    "'S 'T 'RE caps contractions",
    "nbsp\u00a0here and\u2003em space and\u3000ideographic",
    "mongolian\u180evowel separator",
    "zero\u200bwidth\u200djoiner",
    "Ελληνικά κείμενα και עברית",
    "हिन्दी पाठ और தமிழ்",
    "\u00bd \u2155 \u2460 \u0661\u0662\u0663 Roman \u2167",
    "\x01\x02 control \x7f chars \u0085 nel \x1c\x1d \x1e\x1f separators",
    "The quick brown fox jumps over the lazy dog. " * 4,
    "😀",
    " 😀 ",
    "a\u2028b\u2029c",
]


def split_char_sequences(tok):
    """Id sequences whose decode cuts a multi-byte character or mixes in specials."""
    seqs = []
    for text in ["日本", "😀", "Größe", "👨‍👩‍👧"]:
        ids = tok.encode(text, add_special_tokens=False).ids
        for n in range(1, len(ids) + 1):
            seqs.append(ids[:n])
        seqs.append(ids[1:])
        seqs.append(ids[::-1])
    seqs.append([50257, 50258, 50359, 50362, 23748, 50256])
    seqs.append(list(range(180, 260)))
    return seqs


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else "models/tiny.en"
    out = sys.argv[2] if len(sys.argv) > 2 else "tests/fixtures/tokenizer_cases.fix"
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    arrays = {"n_cases": np.array([len(TEXTS)], dtype=np.int32)}
    for i, text in enumerate(TEXTS):
        arrays[f"case{i}.text"] = text
        arrays[f"case{i}.ids"] = np.array(tok.encode(text, add_special_tokens=False).ids,
                                          dtype=np.int32)
    seqs = split_char_sequences(tok)
    arrays["n_decodes"] = np.array([len(seqs)], dtype=np.int32)
    for i, ids in enumerate(seqs):
        arrays[f"decode{i}.ids"] = np.array(ids, dtype=np.int32)
        arrays[f"decode{i}.text"] = tok.decode(ids, skip_special_tokens=False)
        arrays[f"decode{i}.text_skip"] = tok.decode(ids, skip_special_tokens=True)
    write_fixture(out, arrays)
    print(f"wrote {out}: {len(TEXTS)} encode cases, {len(seqs)} decode cases")


if __name__ == "__main__":
    main()
