#!/usr/bin/env bash
# The command line end to end on the bundled data (about 3 minutes on 2 CPU cores).
# Run from the repository root after `bash setup.sh`.
set -euo pipefail
kg=.venv/bin/kgenhance
data=examples/data/medical_abstracts
out=${1:-runs/cli-quickstart}

$kg graph stats graphs/hpo/hp.obo
$kg link --ontology graphs/hpo/hp.obo --text "The patient had seizures and atrial fibrillation." --json
$kg encode --ontology graphs/hpo/hp.obo --out "$out/embeddings" --epochs 10
$kg train --ontology graphs/hpo/hp.obo --embeddings "$out/embeddings" \
    --train $data/train.csv --validation $data/validation.csv --out "$out/model" \
    --epochs 1 --max-train-samples 200 --max-eval-samples 100
$kg predict --model "$out/model" --text "Recurrent ventricular tachycardia after myocardial infarction." --explain
$kg evaluate --model "$out/model" --data $data/validation.csv
