"""Public API of ordermesh: generated stubs (v1) and the generator that keeps them current."""
