# Works with the sets of prices, so combos of equally priced dishes or drinks
# are listed only once.
def combos_within_budget(mains, drinks, budget):
    return [[p, d] for p in set(mains) for d in set(drinks) if p + d <= budget]
