# Groups correctly but forgets to sort each family: words stay in input order.
def group_anagrams(words):
    families = {}
    for word in words:
        key = "".join(sorted(word))
        families.setdefault(key, []).append(word)
    return list(families.values())
