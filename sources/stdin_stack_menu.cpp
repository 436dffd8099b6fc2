#include <iostream>
#include <vector>

// An interactive stack: a menu is shown before every choice, and the
// program runs until the user picks 0 (or the input ends).
int main() {
    std::vector<int> stack;
    while (true) {
        std::cout << "1) push 2) pop 3) top 4) size 0) quit\n> ";
        int choice;
        if (!(std::cin >> choice) || choice == 0) break;
        if (choice == 1) {
            int value;
            std::cout << "value? ";
            if (!(std::cin >> value)) break;
            stack.push_back(value);
            std::cout << "pushed " << value << "\n";
        } else if (choice == 2) {
            if (stack.empty()) {
                std::cout << "stack is empty\n";
            } else {
                std::cout << "popped " << stack.back() << "\n";
                stack.pop_back();
            }
        } else if (choice == 3) {
            if (stack.empty()) std::cout << "stack is empty\n";
            else std::cout << "top is " << stack.back() << "\n";
        } else if (choice == 4) {
            std::cout << "size is " << stack.size() << "\n";
        } else {
            std::cout << "unknown choice " << choice << "\n";
        }
    }
    std::cout << "bye\n";
    return 0;
}
