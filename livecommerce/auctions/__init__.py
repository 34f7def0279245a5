"""Live auctions: lots, proxy bids, anti-sniping and the hammer (being built for issue 13)."""
