"""The papers' numbers the report compares against, each with where it was read.

Plain data. A number is here only if citable text quotes it; where none was
found the value is None and its source says so (never a number from memory).
A record in results/runs/ fills a row's "ours" cell when its table, row,
setting and metric equal the row's.
"""
import collections

# One paper number: method, setting, metric, value in %, the paper's +- (or None), source.
PaperRow = collections.namedtuple('PaperRow', 'row setting metric value pm source')

NOT_FOUND = 'not found in a citable source here'

L2B_README = ('haebeom-lee/l2b README.md at commit 27680db, section "Results": "The results '
              'in the main paper (average over three independent runs, total 9000 (=3 x 3000) '
              'episodes)"')

CIFAR = 'CIFAR-FS id / SVHN ood'
MIMGNET = 'miniImageNet id / CUB ood'
TDR_README_SETTING = 'MNIST 2-vs-3, ratio 0.995, 20000 steps (README example)'

TABLES = [
    {
        'name': 'l2b Table 1',
        'system': 'taml',
        'title': 'Bayesian TAML (Lee et al., ICLR 2020), Table 1: 5-way, 1..50 shots, '
                 'accuracy (%) on the in-distribution (id) and out-of-distribution (ood) '
                 'meta-test sets',
        'searched': 'the l2b README quotes this table.',
        'why_not_run': {
            CIFAR: 'CIFAR-100 and SVHN images are not available offline '
                   '(../shared/datasets/PROVENANCE.md)',
            MIMGNET: 'miniImageNet and CUB images are not available offline '
                     '(../shared/datasets/PROVENANCE.md)',
        },
        'rows': [
            PaperRow('MAML', CIFAR, 'id acc', 71.55, 0.23, L2B_README),
            PaperRow('MAML', CIFAR, 'ood acc', 45.17, 0.22, L2B_README),
            PaperRow('MAML', MIMGNET, 'id acc', 66.64, 0.22, L2B_README),
            PaperRow('MAML', MIMGNET, 'ood acc', 65.77, 0.24, L2B_README),
            PaperRow('Meta-SGD', CIFAR, 'id acc', 72.71, 0.21, L2B_README),
            PaperRow('Meta-SGD', CIFAR, 'ood acc', 46.45, 0.24, L2B_README),
            PaperRow('Meta-SGD', MIMGNET, 'id acc', 69.95, 0.20, L2B_README),
            PaperRow('Meta-SGD', MIMGNET, 'ood acc', 65.94, 0.22, L2B_README),
            PaperRow('Bayesian TAML', CIFAR, 'id acc', 75.15, 0.20, L2B_README),
            PaperRow('Bayesian TAML', CIFAR, 'ood acc', 51.87, 0.23, L2B_README),
            PaperRow('Bayesian TAML', MIMGNET, 'id acc', 71.46, 0.19, L2B_README),
            PaperRow('Bayesian TAML', MIMGNET, 'ood acc', 71.71, 0.21, L2B_README),
        ],
    },
    {
        'name': 'Meta-GMVAE Omniglot',
        'system': 'gmvae',
        'title': 'Meta-GMVAE (Lee et al., ICLR 2021): Omniglot few-shot accuracy (%)',
        'searched': 'the db-Lee/Meta-GMVAE README gives commands but no numbers; the '
                    'paper\'s table text was not reachable through the search corpora.',
        'why_not_run': {
            setting: 'the data is here, but the paper setting (60000 iterations, 300 samples '
                     'x 32 MC draws per episode) needs a GPU; no GPU machine yet '
                     '(a 200-iteration CPU run is in tests/test_gmvae_real.py)'
            for setting in ('Omniglot 5-way 1-shot', 'Omniglot 5-way 5-shot',
                            'Omniglot 20-way 1-shot', 'Omniglot 20-way 5-shot')
        },
        'rows': [
            PaperRow('Meta-GMVAE', 'Omniglot 5-way 1-shot', 'acc', None, None, NOT_FOUND),
            PaperRow('Meta-GMVAE', 'Omniglot 5-way 5-shot', 'acc', None, None, NOT_FOUND),
            PaperRow('Meta-GMVAE', 'Omniglot 20-way 1-shot', 'acc', None, None, NOT_FOUND),
            PaperRow('Meta-GMVAE', 'Omniglot 20-way 5-shot', 'acc', None, None, NOT_FOUND),
        ],
    },
    {
        'name': 'Meta-GMVAE miniImageNet',
        'system': 'gmvae',
        'title': 'Meta-GMVAE (Lee et al., ICLR 2021): miniImageNet 5-way accuracy (%) on '
                 'SimCLR features',
        'searched': 'the db-Lee/Meta-GMVAE README gives commands but no numbers; the '
                    'paper\'s table text was not reachable through the search corpora.',
        'why_not_run': {
            setting: 'miniImageNet images (for the SimCLR features) are not available '
                     'offline (../shared/datasets/PROVENANCE.md)'
            for setting in ('miniImageNet 5-way 1-shot', 'miniImageNet 5-way 5-shot',
                            'miniImageNet 5-way 20-shot', 'miniImageNet 5-way 50-shot')
        },
        'rows': [
            PaperRow('Meta-GMVAE', 'miniImageNet 5-way 1-shot', 'acc', None, None, NOT_FOUND),
            PaperRow('Meta-GMVAE', 'miniImageNet 5-way 5-shot', 'acc', None, None, NOT_FOUND),
            PaperRow('Meta-GMVAE', 'miniImageNet 5-way 20-shot', 'acc', None, None, NOT_FOUND),
            PaperRow('Meta-GMVAE', 'miniImageNet 5-way 50-shot', 'acc', None, None, NOT_FOUND),
        ],
    },
    {
        'name': 'TDR MNIST imbalance',
        'system': 'tdr',
        'title': 'Targeted data-driven regularization (Kamani et al., KDD 2020): MNIST '
                 'binary imbalance, the setting of the README example',
        'searched': 'the MLOPTPSU/Targeted-Meta-Learning README describes this setting '
                    '(makeImbalanceDataset.py, 20000 training steps) but reports no '
                    'numbers; the paper\'s tables were not reachable through the search '
                    'corpora.',
        'why_not_run': {
            TDR_README_SETTING: 'our MNIST 2-vs-3 runs so far used 5000 steps, not the '
                                'README\'s 20000: see Other runs',
        },
        'rows': [
            PaperRow('TDR (bilevel re-weighting)', TDR_README_SETTING, 'accuracy', None, None,
                     NOT_FOUND),
            PaperRow('TDR (bilevel re-weighting)', TDR_README_SETTING, 'recall_minor', None,
                     None, NOT_FOUND),
            PaperRow('TDR (bilevel re-weighting)', TDR_README_SETTING, 'precision_minor', None,
                     None, NOT_FOUND),
        ],
    },
]
