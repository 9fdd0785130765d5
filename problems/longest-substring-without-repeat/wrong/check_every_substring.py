# Correct, but checks every substring separately: O(n^3) work in all.
def longest_distinct_substring(s):
    n = len(s)
    best = 0
    for i in range(n):
        for j in range(i + 1, n + 1):
            if len(set(s[i:j])) == j - i:
                best = max(best, j - i)
    return best
