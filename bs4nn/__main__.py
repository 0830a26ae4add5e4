from bs4nn.cli import console

console()
