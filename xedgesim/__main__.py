from xedgesim.cli import main

main()
