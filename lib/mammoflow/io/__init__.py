"""File formats: DICOM decoding and writing, PNG, probability-map stores."""
