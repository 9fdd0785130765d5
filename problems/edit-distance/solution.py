def edit_distance(source, target):
    # Keep the shorter string along the row to use O(min(n, m)) memory.
    if len(target) > len(source):
        source, target = target, source
    m = len(target)
    prev = list(range(m + 1))
    for i, a in enumerate(source, 1):
        cur = [i] + [0] * m
        for j in range(1, m + 1):
            if a == target[j - 1]:
                cur[j] = prev[j - 1]
            else:
                best = prev[j - 1]
                if prev[j] < best:
                    best = prev[j]
                if cur[j - 1] < best:
                    best = cur[j - 1]
                cur[j] = best + 1
        prev = cur
    return prev[m]
