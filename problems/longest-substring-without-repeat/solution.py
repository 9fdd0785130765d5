def longest_distinct_substring(s):
    last = {}
    left = 0
    best = 0
    for right, ch in enumerate(s):
        seen = last.get(ch)
        if seen is not None and seen >= left:
            left = seen + 1
        last[ch] = right
        if right - left + 1 > best:
            best = right - left + 1
    return best
