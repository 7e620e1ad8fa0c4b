from streamscope.cli import main

main(prog_name="streamscope")
