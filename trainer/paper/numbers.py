"""What the paper reports (Kheradpisheh et al., BS4NN), one entry per experiment id."""

PAPER = {
    "fig1": "MSE per training epoch on MNIST: both curves converge towards 0; BS4NN fluctuates "
    "more (sudden sign flips)",
    "fig2": "output neuron j fires first, on average, for digit j (diagonal shortest); digit 1 "
    "is the slowest (188 steps)",
    "fig3": "to the decision: about 100 input and 200 hidden spikes per digit; digit 1 about "
    "300 input and 100 hidden spikes",
    "fig4": "a '9': output 9 overtakes the others at step 15 and fires at step 58",
    "fig5": "accuracy stays above 95% up to J = 50% of Imax and drops to 79% at 100%; S4NN "
    "loses at most 5%",
    "fig6": "77.8% of hidden and 60.4% of output weights positive",
    "fig7": "accuracy peaks near the training threshold (100); theta 80: 44.9 steps at 91.0% "
    "vs 112.9 steps at 97.0% for theta 100",
    "fig8": "sample Fashion-MNIST images per class",
    "fig9": "Fashion-MNIST: the correct output fires first on average; ankle boot / sandal / "
    "sneaker, shirt / T-shirt and pullover / coat confused; the confused classes need "
    "more input and hidden spikes",
    "table1": "MNIST 600 hidden, W_h U[0,5], W_o U[0,50], alpha 5/5, theta 100; Fashion 1000 "
    "hidden, U[0,1], alpha 5/10, theta 700; tmax 256, eta 0.1, mu 0.01, gamma 1, "
    "lambda 1e-6",
    "table2": "MNIST: BS4NN 97.0%, S4NN 97.4%, BNN 96.8%",
    "table3": "Fashion-MNIST: BS4NN 784-1000-10 87.3%, 784-600-600-10 87.5%, S4NN 88.0%, BNN 86.4%",
    "swap": "the trained BS4NN with its real proxy weights W in place of alpha*B: 89.1% (vs 97.0%)",
    "alpha": "alphas rounded to two decimals: accuracy unchanged",
}

FIG2_DIAGONAL = [75, 188, 88, 88, 128, 108, 96, 122, 94, 135]  # Fig. 2b, digits 0..9
FIG4_STEPS = {"overtake": 15, "fire": 58, "shown": [15, 58, 100, 190, 250]}
FIG5 = {"J50_at_least": 0.95, "J100": 0.79, "s4nn_drop_at_most": 0.05}
FIG6 = {"hidden": 0.778, "output": 0.604}
FIG7 = {
    "theta_80": {"accuracy": 0.910, "steps": 44.9},
    "theta_100": {"accuracy": 0.970, "steps": 112.9},
}
TABLE1 = {
    "mnist": {
        "hidden": [600],
        "init_hidden": [0.0, 5.0],
        "init_out": [0.0, 50.0],
        "alpha_hidden": 5.0,
        "alpha_out": 5.0,
        "theta": 100.0,
    },
    "fashion-mnist": {
        "hidden": [1000],
        "init_hidden": [0.0, 1.0],
        "init_out": [0.0, 1.0],
        "alpha_hidden": 5.0,
        "alpha_out": 10.0,
        "theta": 700.0,
    },
    "fashion-mnist 600-600": {
        "hidden": [600, 600],
        "init_hidden": [-10.0, 10.0],
        "init_out": [-10.0, 10.0],
        "alpha_hidden": 10.0,
        "alpha_out": 10.0,
        "theta": 500.0,
    },
    "shared": {
        "tmax": 256,
        "eta": 0.1,
        "mu": 0.01,
        "gamma": 1.0,
        "lam": 1e-6,
        "lr_decay": 0.7,
        "lr_decay_every": 10,
    },
}
TABLE2 = {"BS4NN": 0.970, "S4NN": 0.974, "BNN": 0.968}
TABLE3 = {"BS4NN 784-1000-10": 0.873, "BS4NN 784-600-600-10": 0.875, "S4NN": 0.880, "BNN": 0.864}
SWAP = 0.891
