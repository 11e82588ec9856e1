"""Stories: grouping items across outlets and telling what a later item adds."""
