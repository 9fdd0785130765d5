def fewest_coins(coins, amount):
    INF = amount + 1  # more tokens than any real answer can need
    best = [0] + [INF] * amount
    for c in coins:
        for v in range(c, amount + 1):
            x = best[v - c] + 1
            if x < best[v]:
                best[v] = x
    return best[amount] if best[amount] < INF else -1
