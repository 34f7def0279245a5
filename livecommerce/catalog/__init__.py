"""The catalog: products, their stock, prices, imports and images."""
