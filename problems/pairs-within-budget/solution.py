from bisect import bisect_right


def combos_within_budget(mains, drinks, budget):
    drinks = sorted(drinks)
    combos = []
    for p in mains:
        k = bisect_right(drinks, budget - p)  # drinks[:k] are affordable with p
        for d in drinks[:k]:
            combos.append([p, d])
    return combos
