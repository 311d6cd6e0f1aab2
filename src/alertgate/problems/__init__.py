"""Problem records (SPEC §4): opened on repeated recurrence, a closed P1, or closure code
completed_with_problem; linked to their incidents."""
