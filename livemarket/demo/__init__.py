"""The K-MAS demo season: 100 products, hosts, platforms and 60 specials."""
