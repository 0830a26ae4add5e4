"""bs4nn command-line interface; the work lives in trainer, codegen and host."""
