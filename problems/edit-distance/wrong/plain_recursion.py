# Correct, but tries every edit sequence without remembering subresults:
# exponential time.
def edit_distance(source, target):
    def go(i, j):
        if i == len(source):
            return len(target) - j
        if j == len(target):
            return len(source) - i
        if source[i] == target[j]:
            return go(i + 1, j + 1)
        return 1 + min(go(i + 1, j), go(i, j + 1), go(i + 1, j + 1))

    return go(0, 0)
