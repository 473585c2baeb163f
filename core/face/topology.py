"""MediaPipe FaceMesh landmark index sets: the one place they are written down.

The face model's vertex ``i`` is MediaPipe landmark ``i`` (ARCHITECTURE.md), so these sets name
parts of both the detected landmarks and the mesh. They are fixed by the landmark model. Sides are
the subject's: *left* is +X in model space. Tuples keep them immutable: index numpy arrays with
``list(...)`` or ``np.asarray(...)``, never with the tuple itself.
"""

from __future__ import annotations

N_POINTS = 468

# Lip contours, each from the subject's right mouth corner to the left one.
INNER_LIP_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LIP_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
OUTER_LIP_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
OUTER_LIP_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
MOUTH_CORNERS = (61, 291)
#: The inner-lip contour in order around the mouth opening (the hole the generator fills).
INNER_LIP_LOOP = INNER_LIP_UPPER + INNER_LIP_LOWER[-2:0:-1]
#: The outer-lip contour in order around the lips (their extent: the mouth model's crop).
OUTER_LIP_LOOP = OUTER_LIP_UPPER + OUTER_LIP_LOWER[-2:0:-1]
#: Every lower-lip vertex between the corners, inner contour then outer.
LOWER_LIP = INNER_LIP_LOWER[1:-1] + OUTER_LIP_LOWER[1:-1]
#: Central inner-lip pairs (upper, lower) whose distance is the lip gap: the lips' contact zone.
LIP_GAP_PAIRS = ((81, 178), (82, 87), (13, 14), (312, 317), (311, 402))

# Eyelid margins, each from the outer to the inner corner.
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
#: Closed eye contours (MediaPipe FACEMESH_LEFT_EYE / RIGHT_EYE vertices); their means are the
#: eye centres that define the inter-ocular distance.
LEFT_EYE = LEFT_EYE_LOWER + LEFT_EYE_UPPER[-2:0:-1]
RIGHT_EYE = RIGHT_EYE_LOWER + RIGHT_EYE_UPPER[-2:0:-1]
#: Upper/lower lid-margin pairs per eye, subject's left eye first.
EYE_PAIRS = (((387, 373), (386, 374), (385, 380)), ((160, 144), (159, 145), (158, 153)))

LEFT_BROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
RIGHT_BROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_BROW_INNER, LEFT_BROW_OUTER = (336, 296, 285, 295), (276, 283, 300, 293)

NOSE = (1, 2, 4, 5, 6, 19, 94, 97, 98, 326, 327, 168, 197, 195, 48, 278, 64, 294, 129, 358,
        219, 439, 45, 275, 115, 344, 102, 331, 49, 279, 240, 460, 75, 305, 60, 290, 20, 250)
NOSE_TIP, NOSE_BASE, CHIN = 1, 2, 152
#: Rigid forehead and nose-bridge points: they move with the skull, not with expressions.
ANCHOR = (10, 151, 9, 8, 168, 6, 197, 195, 109, 338, 67, 297, 108, 337, 69, 299, 104, 333)
#: Vertices on the face's plane of symmetry (x = 0).
MIDLINE = (1, 2, 4, 5, 6, 8, 9, 10, 13, 14, 17, 18, 19, 94, 151, 152, 164, 168, 175, 195,
           197, 199, 200)
#: The face oval (MediaPipe FACEMESH_FACE_OVAL), clockwise from the forehead's top.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
#: Iris centres of the 478-point refined landmarks (subject's left, right).
LEFT_IRIS, RIGHT_IRIS = 473, 468
