def combined_median(first, second):
    # Binary search on how many values of the shorter list go to the lower
    # half of the combined order.
    a, b = (first, second) if len(first) <= len(second) else (second, first)
    m, n = len(a), len(b)
    half = (m + n + 1) // 2
    lo, hi = 0, m
    NEG, POS = float("-inf"), float("inf")
    while lo <= hi:
        i = (lo + hi) // 2  # values taken from a
        j = half - i        # values taken from b
        a_left = a[i - 1] if i > 0 else NEG
        a_right = a[i] if i < m else POS
        b_left = b[j - 1] if j > 0 else NEG
        b_right = b[j] if j < n else POS
        if a_left > b_right:
            hi = i - 1
        elif b_left > a_right:
            lo = i + 1
        else:
            left = max(a_left, b_left)
            if (m + n) % 2:
                return left
            return (left + min(a_right, b_right)) / 2
    raise ValueError("inputs are not sorted")
