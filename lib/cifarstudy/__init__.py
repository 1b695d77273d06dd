"""cifarstudy: how far can two identically trained CIFAR-10 classifiers be trusted?

Shared code of the study notebooks, along one flow:
config -> data -> models -> train -> predict -> metrics -> plots -> report.
"""

__version__ = "0.1.0"
