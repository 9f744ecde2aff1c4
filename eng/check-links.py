#!/usr/bin/env python3
"""Checks the links of README.md and docs/*.md without the network.

A relative link must name a file or folder of the repository, and an anchor (#part) must be a
heading of the page it points to, by GitHub's rule for heading ids. Links to http(s) and mailto are
not followed. Prints one line per broken link and exits 1 when there is any.
Usage: python3 eng/check-links.py [ROOT]
"""
import pathlib
import re
import sys
import unicodedata
from urllib.parse import unquote

LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
HTML_LINK = re.compile(r'<(?:a|img)\s[^>]*?(?:href|src)="([^"]+)"', re.IGNORECASE)
FENCE = re.compile(r'^\s*(```|~~~)')
HEADING = re.compile(r'^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$')


def prose_lines(text):
    """The lines outside fenced code blocks, with their numbers, inline code removed."""
    fenced = None
    for number, line in enumerate(text.split('\n'), 1):
        match = FENCE.match(line)
        if match:
            fenced = None if fenced == match.group(1) else (fenced or match.group(1))
            continue
        if fenced is None:
            yield number, re.sub(r'`[^`]*`', '', line), line


def slug(heading):
    """GitHub's id for a heading: its text, lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)   # a link keeps its text
    text = re.sub(r'<[^>]+>', '', text).replace('`', '').lower()
    kept = ''.join(c for c in text if c in ' -_' or unicodedata.category(c)[0] in 'LMN')
    return kept.replace(' ', '-')


def anchors(page):
    seen = {}
    result = set()
    for _, _, line in prose_lines(page.read_text(encoding='utf-8')):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f'{base}-{count}')
    for explicit in re.findall(r'<a\s+(?:id|name)="([^"]+)"', page.read_text(encoding='utf-8')):
        result.add(explicit)
    return result


def check(root):
    pages = [root / 'README.md'] + sorted((root / 'docs').glob('*.md'))
    problems = []
    cache = {}
    for page in pages:
        if not page.exists():
            continue
        for number, prose, _ in prose_lines(page.read_text(encoding='utf-8')):
            targets = [m.group(1) for m in LINK.finditer(prose)] + HTML_LINK.findall(prose)
            for target in targets:
                if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.IGNORECASE):
                    continue   # http(s), mailto: not checked without the network
                where = f'{page.relative_to(root)}:{number}'
                path_part, _, anchor = target.partition('#')
                resolved = page if path_part == '' else (page.parent / unquote(path_part)).resolve()
                if not resolved.exists():
                    problems.append(f'{where}: {target}: no file {path_part}')
                    continue
                try:
                    resolved.relative_to(root.resolve())
                except ValueError:
                    problems.append(f'{where}: {target}: points outside the repository')
                    continue
                if anchor:
                    if resolved.suffix.lower() != '.md' or not resolved.is_file():
                        problems.append(f'{where}: {target}: an anchor on a file that is not a Markdown page')
                        continue
                    if resolved not in cache:
                        cache[resolved] = anchors(resolved)
                    if unquote(anchor) not in cache[resolved]:
                        problems.append(f'{where}: {target}: no heading #{anchor} in {resolved.relative_to(root.resolve())}')
    return pages, problems


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent).resolve()
    pages, problems = check(root)
    for problem in problems:
        print(problem)
    print(f'check-links: {len(pages)} pages, {len(problems)} broken link(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
