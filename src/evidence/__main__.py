from evidence.cli import main

main()
