# Sliding window that jumps left to just past the character's last position
# even when that position is already outside the window, so the window can
# grow backwards over a repeat ("abba" gives 3 instead of 2).
def longest_distinct_substring(s):
    last = {}
    left = 0
    best = 0
    for right, ch in enumerate(s):
        if ch in last:
            left = last[ch] + 1
        last[ch] = right
        best = max(best, right - left + 1)
    return best
